"""The offline writer: deterministic, extractive, always available.

Runs when there is no API key and whenever the LLM fails (outage, refusal, truncation,
invalid output). It groups the picks by the topic that matched them and writes a briefing:
per group one paragraph of at most about 100 words that names the group and its main
thread, gives the two or three strongest results in the papers' own sentences (reworded in
the third person: "[4] proposes ...", see `extract`), and lists the rest ("Also: [3][9]");
then, when groups share a method, dataset or task in their own words, one closing sentence
that says so (`threads`). Every card is cited. The framing comes from the catalog (English
or Chinese); the sentences stay in the abstracts' language. The sentences come from
untrusted abstracts, so tags and links are stripped here too: whichever writer ran, a
Writing never carries markup or URLs.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING

from newsletter.core.text import strip_links, strip_tags
from newsletter.locale import i18n
from newsletter.writing import extract, threads
from newsletter.writing.sentences import words as count_words

if TYPE_CHECKING:
    from newsletter.ranking.candidates import Pick

QUOTED = re.compile(r"^(?:matches|keyword|topic)\s*[:']?\s*'?(.+?)'?$", re.IGNORECASE)
PARAGRAPH_WORDS = 95  # "at most about 100": a paragraph a reader takes in at a glance
FEATURED = 3  # papers told per group; the other papers of the group are listed
SECOND_LINE = 25  # words kept free for the second paper of a group

CATEGORY = re.compile(r"^[a-z][a-z-]*\.[A-Za-z-]+$")  # cs.CL, q-bio.QM, physics.optics
# Group tiers, in reading order: followed authors, the subscriber's keyword topics,
# categories, the rest. The subject's lead theme prefers a keyword group (see `theme_of`).
AUTHOR, KEYWORD, CATEGORY_TIER, ALSO = 0, 1, 2, 3
THEME_ORDER = (KEYWORD, AUTHOR, CATEGORY_TIER, ALSO)
KEYWORD_KINDS = ("title", "abstract", "words")


@lru_cache(maxsize=8192)  # the same abstracts come back for every subscriber of the day
def clean(text: str) -> str:
    """Plain text without tags, links or angle brackets, whitespace collapsed."""
    text = strip_links(strip_tags(text or "", " "))
    return " ".join(text.replace("<", " ").replace(">", " ").split())


def key_sentence(abstract: str, title: str = "", terms: list[str] | None = None) -> str:
    """The abstract sentence that states the contribution or main result, as written."""
    return extract.key_sentence(clean(abstract), clean(title))


def shorten(sentence: str, limit: int) -> str:
    """A subject line or preheader within `limit` characters (never a briefing sentence)."""
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
            if found.kind == "author":  # named as the paper spells it
                name = found.matched[0] if found.matched else found.value
                return AUTHOR, tr.gettext("New from %(name)s", name=clean(name))
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
    """The card's one or two sentences, by the briefing's rules."""
    return extract.card_summary(clean(pick.paper.abstract), clean(pick.paper.title))


def write_offline(picks: list[Pick], locale: str = "en") -> tuple[str, str, str, dict[str, str]]:
    """(theme, preheader, synthesis, summaries) for these picks, cards numbered from 1.

    One paragraph per group ("Diffusion — 4 papers, 2 of them on anomaly detection. [2]
    proposes ... [5] ... Also: [3][9]."), then at most one sentence on what links the
    groups. Chinese: the same with Chinese framing ("Diffusion：4 篇论文，其中 ...")."""
    tr = i18n.translator(locale)
    if not picks:
        return "", "", "", {}
    summaries = {p.paper.id: summary(p) for p in picks}
    texts = {n: (clean(p.paper.title), clean(p.paper.abstract)) for n, p in enumerate(picks, 1)}
    found = grouped(picks, locale)
    paragraphs = [_paragraph(label, cards, texts, tr) for _, label, cards in found]
    closing = _link(found, texts, tr)
    if closing:
        paragraphs.append(closing)
    theme = theme_of(grouped(picks, locale, merge=False))  # before small groups merge
    labels = [theme] + [label for tier, label, _ in found if label != theme and tier != ALSO]
    labels = labels[:3]
    preheader = shorten(tr.ngettext("%(num)s new paper today: %(topics)s",
                                    "%(num)s new papers today: %(topics)s", len(picks),
                                    topics=tr.join(labels, conjunction=True)), 150)
    return shorten(theme, 80), preheader, "\n\n".join(paragraphs), summaries


def paragraph_words(text: str) -> int:
    """Words as any reader or filter would count them (whitespace or word characters)."""
    return max(len(text.split()), count_words(text))


def _paragraph(label: str, cards: list[int], texts: dict[int, tuple],
               tr: i18n.Translator) -> str:
    """A group's paragraph: its name and thread, its strongest papers in their own words
    (what each does and finds), the rest listed."""
    head = _head(label, cards, texts, tr)
    abstracts = {n: texts[n][1] for n in cards}
    best = {n: extract.told(abstracts[n], f"[{n}]") for n in cards}
    # Strongest first: a concrete result, then the ranking's own order.
    order = sorted(cards, key=lambda n: (best[n] is None, not (best[n] and best[n].result), n))
    room = PARAGRAPH_WORDS - paragraph_words(head) - (3 if len(cards) > 1 else 0)
    chosen: list[str] = []
    listed: list[int] = []
    for i, n in enumerate(order):
        # Leave room for a second paper: two short accounts beat one long one.
        spare = SECOND_LINE if len(chosen) == 0 and i + 1 < len(order) else 0
        told = extract.told(abstracts[n], f"[{n}]", room - spare) \
            if len(chosen) < FEATURED else None
        if told is None:
            listed.append(n)
            continue
        text = " ".join(told.sentences)
        chosen.append(text)
        room -= paragraph_words(text)
    parts = [head, *chosen]
    if listed:
        parts.append(tr.gettext("Also: %(cards)s.", cards=_cited(sorted(listed))))
    return _joined(parts)


def _joined(parts: list[str]) -> str:
    """Sentences with a space between them, except after a full-width stop or colon, which
    carries its own ("Diffusion：4 篇论文。[1] ...", not "。 [1]")."""
    out = parts[0] if parts else ""
    for part in parts[1:]:
        out += ("" if out.endswith(("。", "！", "？", "：", "；")) else " ") + part
    return out


def _head(label: str, cards: list[int], texts: dict[int, tuple], tr: i18n.Translator) -> str:
    """The group's name, its size and, when its papers share one, its thread."""
    k = len(cards)
    found = threads.thread({n: texts[n] for n in cards}, [label]) if k > 1 else None
    if found is None:
        return tr.ngettext("%(label)s — %(num)s paper.", "%(label)s — %(num)s papers.", k,
                           label=label)
    if len(found.cards) == k:
        return tr.ngettext("%(label)s — %(num)s paper, all on %(thread)s.",
                           "%(label)s — %(num)s papers, all on %(thread)s.", k,
                           label=label, thread=found.text)
    return tr.ngettext("%(label)s — %(num)s paper, %(some)s of them on %(thread)s.",
                       "%(label)s — %(num)s papers, %(some)s of them on %(thread)s.", k,
                       label=label, some=tr.number(len(found.cards)), thread=found.text)


def _link(found: list[tuple[int, str, list[int]]], texts: dict[int, tuple],
          tr: i18n.Translator) -> str:
    """One sentence naming what two or more groups share, or nothing."""
    groups = [(label, cards) for tier, label, cards in found if tier != ALSO]
    if len(groups) < 2:
        return ""
    term = threads.link(groups, {n: texts[n] for _, cards in groups for n in cards})
    if term is None:
        return ""
    return tr.gettext("What links the groups: %(term)s %(cards)s.", term=term.text,
                      cards=_cited(term.cards))


def _cited(cards) -> str:
    return "".join(f"[{n}]" for n in cards)
