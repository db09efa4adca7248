"""Fixed strings in English and Chinese, and dates formatted per language.

Used by the emails (newsletter.compose) and the web pages. `t(key, locale, **kw)` looks the
key up in the locale's table (falling back to English, then to the key itself, so a missing
translation shows up as English rather than crashing a send) and fills `{name}` fields.
A `count` argument picks the `key_one` form in English when count == 1.
Values passed in are formatted as they are: escaping is the template's job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

LOCALES = ("en", "zh")
DEFAULT_LOCALE = "en"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "brand": "AcademicHub",
        "tagline": "Curated Daily",
        "subject": "{date} · {theme} | AcademicHub",
        "subject_no_theme": "{date} · {count} new papers | AcademicHub",
        "subject_no_theme_one": "{date} · 1 new paper | AcademicHub",
        "preheader_default": "{count} new papers picked for you today.",
        "preheader_default_one": "1 new paper picked for you today.",
        "synthesis_heading": "Today's synthesis",
        "papers_heading": "Your papers",
        "more_authors": "+{count} more",
        "followed_author": "followed author",
        "why": "Why you got this:",
        "abstract": "Abstract",
        "pdf": "PDF",
        "more_like_this": "More like this",
        "less_like_this": "Less like this",
        "more_on_web": "{count} more papers on the web",
        "more_on_web_one": "1 more paper on the web",
        "read_on_web": "See the full list in your browser",
        "preferences": "Preferences",
        "unsubscribe": "Unsubscribe",
        "view_in_browser": "View in browser",
        "sent_to": "Sent to {email}.",
        "why_you_get_this": "You get this email because you subscribed to AcademicHub"
                            " with these topics: {topics}.",
        "why_you_get_this_no_topics": "You get this email because you subscribed to"
                                      " AcademicHub.",
        "written_by_offline": "Summaries are extracted from the abstracts.",
        "confirm_subject": "Confirm your AcademicHub subscription",
        "confirm_preheader": "One click to start your daily research digest.",
        "confirm_heading": "Confirm your subscription",
        "confirm_body": "Someone, hopefully you, asked to receive the AcademicHub research"
                        " digest at {email}. Confirm to start receiving it.",
        "confirm_button": "Confirm my subscription",
        "confirm_expiry": "This link expires in 7 days.",
        "confirm_ignore": "If you did not ask for this, ignore this email: you will not"
                          " hear from us again.",
        "welcome_subject": "Welcome to AcademicHub",
        "welcome_preheader": "Your first digest arrives at {time} ({timezone}).",
        "welcome_heading": "You're subscribed",
        "welcome_body": "Your research digest arrives at {time} ({timezone}), {frequency},"
                        " with up to {count} papers picked for your topics.",
        "welcome_topics": "Your topics: {topics}.",
        "welcome_change": "You can change topics, language, time or frequency at any time.",
        "frequency_daily": "every day new papers are announced",
        "frequency_weekly": "once a week",
        "button_preferences": "Edit my preferences",
        "copy_link": "If the button does not work, copy this address into your browser:",
        # Why a paper was picked (newsletter.rank.Reason kinds); {topic} is reason_topic.
        "reason_author": "by {value}",
        "reason_title": "matches {topic} in the title",
        "reason_abstract": "matches {topic} in the abstract",
        "reason_words": "mentions the words of {topic}",
        "reason_partial": "partly matches {topic}",
        "reason_category": "{value}",
        "reason_source": "from {value}",
        "reason_feedback": "like papers you asked for more of",
        "reason_recent": "recent paper",
        "reason_topic": "'{value}'",
        "reason_topic_gloss": "'{value}' ({gloss})",
        "reason_sep": "; ",
    },
    "zh": {
        "brand": "AcademicHub",
        "tagline": "每日精选",
        "subject": "{date} · {theme} | AcademicHub",
        "subject_no_theme": "{date} · {count} 篇新论文 | AcademicHub",
        "preheader_default": "今天为你精选了 {count} 篇新论文。",
        "synthesis_heading": "今日综述",
        "papers_heading": "你的论文",
        "more_authors": "等另外 {count} 人",
        "followed_author": "关注的作者",
        "why": "推荐理由：",
        "abstract": "摘要",
        "pdf": "PDF",
        "more_like_this": "多推荐类似的",
        "less_like_this": "少推荐类似的",
        "more_on_web": "网页上还有 {count} 篇论文",
        "read_on_web": "在浏览器中查看完整列表",
        "preferences": "偏好设置",
        "unsubscribe": "退订",
        "view_in_browser": "在浏览器中查看",
        "sent_to": "发送至 {email}。",
        "why_you_get_this": "你收到这封邮件，是因为你订阅了 AcademicHub，主题为：{topics}。",
        "why_you_get_this_no_topics": "你收到这封邮件，是因为你订阅了 AcademicHub。",
        "written_by_offline": "摘要摘自论文原文。",
        "confirm_subject": "请确认你的 AcademicHub 订阅",
        "confirm_preheader": "点击一下，开始接收每日研究简报。",
        "confirm_heading": "确认订阅",
        "confirm_body": "有人（希望是你）请求将 AcademicHub 研究简报发送到 {email}。"
                        "确认后即可开始接收。",
        "confirm_button": "确认订阅",
        "confirm_expiry": "此链接 7 天内有效。",
        "confirm_ignore": "如果这不是你本人的操作，请忽略此邮件，我们不会再联系你。",
        "welcome_subject": "欢迎订阅 AcademicHub",
        "welcome_preheader": "你的第一封简报将于 {time}（{timezone}）送达。",
        "welcome_heading": "订阅成功",
        "welcome_body": "你的研究简报将于 {time}（{timezone}）送达，{frequency}，"
                        "每期最多 {count} 篇与你的主题相关的论文。",
        "welcome_topics": "你的主题：{topics}。",
        "welcome_change": "你可以随时修改主题、语言、送达时间或频率。",
        "frequency_daily": "每逢有新论文公布的日子",
        "frequency_weekly": "每周一次",
        "button_preferences": "修改偏好设置",
        "copy_link": "如果按钮无法使用，请将此地址复制到浏览器中：",
        "reason_author": "关注的作者 {value}",
        "reason_title": "标题匹配{topic}",
        "reason_abstract": "摘要匹配{topic}",
        "reason_words": "提到了{topic}中的词",
        "reason_partial": "部分匹配{topic}",
        "reason_category": "分类 {value}",
        "reason_source": "来自 {value}",
        "reason_feedback": "与你选择“多推荐类似的”的论文相近",
        "reason_recent": "近期论文",
        "reason_topic": "“{value}”",
        "reason_topic_gloss": "“{value}”（{gloss}）",
        "reason_sep": "；",
    },
}

_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ZH_DAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def normalize_locale(locale: str | None) -> str:
    """'zh-CN', 'zh_Hans' -> 'zh'; anything unknown -> 'en'."""
    base = (locale or "").replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def t(key: str, locale: str | None = DEFAULT_LOCALE, **kw: object) -> str:
    table = STRINGS[normalize_locale(locale)]
    if key not in table:
        table = STRINGS[DEFAULT_LOCALE]
    if kw.get("count") == 1 and key + "_one" in table:
        key += "_one"
    text = table.get(key, key)
    return text.format(**kw) if kw else text


def format_date(d: dt.date, locale: str | None = DEFAULT_LOCALE, *, style: str = "long") -> str:
    """'long': Thursday, 26 November 2026 / 2026年11月26日 星期四;
    'short': Nov 26 / 11月26日 (subject lines)."""
    if normalize_locale(locale) == "zh":
        if style == "short":
            return f"{d.month}月{d.day}日"
        return f"{d.year}年{d.month}月{d.day}日 {_ZH_DAYS[d.weekday()]}"
    if style == "short":
        return f"{_EN_MONTHS[d.month - 1][:3]} {d.day}"
    return f"{_EN_DAYS[d.weekday()]}, {d.day} {_EN_MONTHS[d.month - 1]} {d.year}"


def join_list(items: list[str], locale: str | None = DEFAULT_LOCALE) -> str:
    """Topics in a sentence: 'a, b, c' / 'a、b、c'."""
    return ("、" if normalize_locale(locale) == "zh" else ", ").join(items)


TOPIC_REASONS = frozenset({"title", "abstract", "words", "partial"})


def reason_text(reasons: Iterable[Sequence], locale: str | None = DEFAULT_LOCALE) -> str:
    """`newsletter.rank.Reason`s (kind, value, gloss) in words:
    "matches 'x' in the title; cs.CL" / "标题匹配“x”；分类 cs.CL". Unknown kinds are skipped."""
    table = STRINGS[normalize_locale(locale)]
    words = []
    for kind, value, gloss, *_ in reasons:
        template = table.get(f"reason_{kind}") or STRINGS[DEFAULT_LOCALE].get(f"reason_{kind}")
        if template is None:
            continue
        topic = ""
        if kind in TOPIC_REASONS:
            topic = table["reason_topic_gloss" if gloss else "reason_topic"].format(
                value=value, gloss=gloss)
        words.append(template.format(value=value, topic=topic))
    return table["reason_sep"].join(words)
