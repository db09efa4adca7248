"""The offline writer: deterministic, extractive, always available.

Runs when there is no API key and whenever the LLM fails (outage, refusal, truncation,
invalid output). It groups the picks by the topic that matched them, names each group,
takes the key sentence of each abstract and cites the card as [n], in English or Chinese.
The sentences come from untrusted abstracts, so tags and links are stripped here too:
whichever writer ran, a Writing never carries markup or URLs.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import TYPE_CHECKING

from newsletter.locale import i18n

if TYPE_CHECKING:
    from newsletter.ranking.candidates import Pick

SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
TAG = re.compile(r"<[^>]*>?")
LINK = re.compile(r"(?i)\b(?:https?://|ftp://|www\.|mailto:|javascript:|data:)\S*")
DOMAIN = re.compile(r"(?i)\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|ai|dev|edu|gov|co|ly|me|info)"
                    r"\b(?:/\S*)?")
QUOTED = re.compile(r"^(?:matches|keyword|topic)\s*[:']?\s*'?(.+?)'?$", re.IGNORECASE)
CUES = ("we propose", "we present", "we introduce", "we show", "we find", "we demonstrate",
        "we develop", "we report", "outperform", "achiev", "improv", "results", "reveal",
        "enables", "state-of-the-art")
MAX_SENTENCE = 260

CATEGORY = re.compile(r"^[a-z][a-z-]*\.[A-Za-z-]+$")  # cs.CL, q-bio.QM, physics.optics
# Group tiers, in reading order: followed authors, the subscriber's keyword topics,
# categories, the rest. The subject's lead theme prefers a keyword group (see `theme_of`).
AUTHOR, KEYWORD, CATEGORY_TIER, ALSO = 0, 1, 2, 3
THEME_ORDER = (KEYWORD, AUTHOR, CATEGORY_TIER, ALSO)
KEYWORD_KINDS = ("title", "abstract", "words")


def clean(text: str) -> str:
    """Plain text without tags, links or angle brackets, whitespace collapsed."""
    text = TAG.sub(" ", text or "")
    text = LINK.sub(" ", text)
    text = DOMAIN.sub(" ", text)
    text = text.replace("<", " ").replace(">", " ")
    text = re.sub(r"\[(?:[^\]]*)\]\([^)]*\)", " ", text)  # markdown links
    return re.sub(r"\s+", " ", text).strip()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(clean(text)) if len(s.strip()) > 1]


def key_sentence(abstract: str, title: str = "", terms: list[str] | None = None) -> str:
    """The abstract sentence most likely to state the contribution (deterministic)."""
    found = sentences(abstract)
    if not found:
        return clean(title)
    terms = [t.lower() for t in terms or [] if t]

    def score(item: tuple[int, str]) -> tuple[float, int]:
        index, sentence = item
        low = sentence.lower()
        value = 2.0 * sum(cue in low for cue in CUES) + sum(t in low for t in terms)
        value += 0.5 if any(map(str.isdigit, sentence)) else 0.0
        value -= 1.5 if len(sentence) < 40 or len(sentence) > 400 else 0.0
        value -= 0.2 * index  # ties go to the earlier sentence
        return value, -index

    best = max(enumerate(found), key=score)[1]
    return shorten(best)


def shorten(sentence: str, limit: int = MAX_SENTENCE) -> str:
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def topic_label(topic: str) -> str:
    """'language models' -> 'Language models'; 'cs.CL', 'iPhone apps', '蒸馏' unchanged."""
    topic = clean(topic)
    first = topic.split(" ", 1)[0]
    if first.isascii() and first.isalpha() and first.islower():
        return topic[:1].upper() + topic[1:]
    return topic


def group_of(pick: Pick, locale: str) -> tuple[int, str]:
    """(tier, label) of the group a pick belongs to: a followed author, else its strongest
    keyword match, else the subscriber's category it matched, else its primary category.
    Partial word matches never name a group: they only order papers."""
    tr = i18n.translator(locale)
    if pick.followed_author:
        return AUTHOR, tr.gettext("New from %(name)s", name=clean(pick.followed_author))
    if pick.reasons:
        for kind in (("author",), KEYWORD_KINDS, ("category",)):
            found = next((r for r in pick.reasons if r.kind in kind), None)
            if found is None:
                continue
            if found.kind == "author":
                return AUTHOR, tr.gettext("New from %(name)s", name=clean(found.value))
            if found.kind == "category":
                return CATEGORY_TIER, clean(found.value)
            return KEYWORD, topic_label(found.value)
    else:  # picks made without structured reasons: their matched words
        for matched in pick.matched:
            value = clean(matched)
            if value.lower().startswith("by "):
                return AUTHOR, tr.gettext("New from %(name)s", name=value[3:].strip())
            found = QUOTED.match(value)
            value = found.group(1) if found else value
            if value:
                return (CATEGORY_TIER, value) if CATEGORY.match(value) \
                    else (KEYWORD, topic_label(value))
    fallback = clean(pick.paper.primary_category or pick.paper.source or "")
    return (CATEGORY_TIER, fallback) if fallback else (ALSO, tr.gettext("Also today"))


def label_of(pick: Pick, locale: str) -> str:
    return group_of(pick, locale)[1]


def grouped(picks: list[Pick], locale: str, *, merge: bool = True
            ) -> list[tuple[int, str, list[int]]]:
    """(tier, label, card numbers) in reading order: by tier, then largest first; past
    four groups, the rest merge into 'also' (unless `merge` is false)."""
    found: OrderedDict[tuple[int, str], list[int]] = OrderedDict()
    for n, pick in enumerate(picks, 1):
        found.setdefault(group_of(pick, locale), []).append(n)
    ordered = sorted(found.items(), key=lambda item: (item[0][0], -len(item[1]), item[1][0]))
    out = [(tier, label, cards) for (tier, label), cards in ordered]
    if merge and len(out) > 4:
        rest = sorted(n for _, _, cards in out[3:] for n in cards)
        out = out[:3] + [(ALSO, i18n.translator(locale).gettext("Also today"), rest)]
    return out


def theme_of(found: list[tuple[int, str, list[int]]]) -> str:
    """The subject's lead theme: the largest keyword group; a followed author, a category
    or 'also' only when no keyword topic matched."""
    for tier in THEME_ORDER:
        best = max((g for g in found if g[0] == tier), key=lambda g: len(g[2]), default=None)
        if best is not None:
            return best[1]
    return ""


def summary(pick: Pick) -> str:
    return key_sentence(pick.paper.abstract, pick.paper.title, _terms(pick))


def _terms(pick: Pick) -> list[str]:
    return [label_of(pick, "en"), *pick.matched]


def write_offline(picks: list[Pick], locale: str = "en") -> tuple[str, str, str, dict[str, str]]:
    """(theme, preheader, synthesis, summaries) for these picks, cards numbered from 1.

    One paragraph per group, read like a briefing: "Language models — 4 papers. <key
    sentence> [1] <key sentence> [3] ..." (Chinese: "Language models：4 篇论文。...")."""
    tr = i18n.translator(locale)
    if not picks:
        return "", "", "", {}
    summaries = {p.paper.id: summary(p) for p in picks}
    found = grouped(picks, locale)
    paragraphs = []
    for _, label, cards in found:
        head = tr.ngettext("%(label)s — %(num)s paper.", "%(label)s — %(num)s papers.",
                           len(cards), label=label)
        body = " ".join(f"{_ended(summaries[picks[n - 1].paper.id])} [{n}]" for n in cards)
        paragraphs.append(f"{head} {body}")
    theme = theme_of(grouped(picks, locale, merge=False))  # before small groups merge
    labels = [theme] + [label for tier, label, _ in found if label != theme and tier != ALSO]
    labels = labels[:3]
    preheader = shorten(tr.ngettext("%(num)s new paper today: %(topics)s",
                                    "%(num)s new papers today: %(topics)s", len(picks),
                                    topics=tr.join(labels, conjunction=True)), 150)
    return shorten(theme, 80), preheader, "\n\n".join(paragraphs), summaries


def _ended(sentence: str) -> str:
    """A sentence that ends like one, so the [n] after it reads as a citation."""
    return sentence if not sentence or sentence[-1] in ".!?。！？…" else sentence + "."
