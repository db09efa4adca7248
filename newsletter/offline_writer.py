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

if TYPE_CHECKING:
    from newsletter.select import Pick

SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
TAG = re.compile(r"<[^>]*>?")
LINK = re.compile(r"(?i)\b(?:https?://|ftp://|www\.|mailto:|javascript:|data:)\S*")
DOMAIN = re.compile(r"(?i)\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|ai|dev|edu|gov|co|ly|me|info)"
                    r"\b(?:/\S*)?")
QUOTED = re.compile(r"^(?:matches|keyword|topic)\s*[:']?\s*'?(.+?)'?$", re.I)
CUES = ("we propose", "we present", "we introduce", "we show", "we find", "we demonstrate",
        "we develop", "we report", "outperform", "achiev", "improv", "results", "reveal",
        "enables", "state-of-the-art")
MAX_SENTENCE = 260

TEXT = {
    "en": {
        "preheader": "{n} new papers today: {topics}",
        "preheader_one": "1 new paper today: {topics}",
        "group": "{label} ({k} papers).",
        "group_one": "{label}.",
        "also": "Also today",
        "author": "Papers by {name}",
        "and": " and ",
        "sep": ", ",
    },
    "zh": {
        "preheader": "今日 {n} 篇新论文：{topics}",
        "preheader_one": "今日 1 篇新论文：{topics}",
        "group": "{label}（{k} 篇）：",
        "group_one": "{label}：",
        "also": "其他新论文",
        "author": "{name} 的论文",
        "and": "、",
        "sep": "、",
    },
}


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
        value += 0.5 if any(ch.isdigit() for ch in sentence) else 0.0
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


def label_of(pick: Pick, locale: str) -> str:
    """The group a pick belongs to: its first matched topic, else author, else category."""
    words = TEXT.get(locale, TEXT["en"])
    if pick.followed_author:
        return words["author"].format(name=clean(pick.followed_author))
    for matched in pick.matched:
        value = clean(matched)
        if value.lower().startswith("by "):
            return words["author"].format(name=value[3:].strip())
        found = QUOTED.match(value)
        value = found.group(1) if found else value
        if value:
            return value[:1].upper() + value[1:]
    return clean(pick.paper.primary_category or pick.paper.source or words["also"])


def groups(picks: list[Pick], locale: str) -> OrderedDict[str, list[int]]:
    """Label -> card numbers, largest groups first; past four, the rest merge into 'also'."""
    found: OrderedDict[str, list[int]] = OrderedDict()
    for n, pick in enumerate(picks, 1):
        found.setdefault(label_of(pick, locale), []).append(n)
    ordered = sorted(found.items(), key=lambda item: (-len(item[1]), item[1][0]))
    merged: OrderedDict[str, list[int]] = OrderedDict(ordered[:3] if len(ordered) > 4 else ordered)
    if len(ordered) > 4:
        merged[TEXT.get(locale, TEXT["en"])["also"]] = sorted(
            n for _, cards in ordered[3:] for n in cards)
    return merged


def summary(pick: Pick) -> str:
    return key_sentence(pick.paper.abstract, pick.paper.title, _terms(pick))


def _terms(pick: Pick) -> list[str]:
    return [label_of(pick, "en")]


def write_offline(picks: list[Pick], locale: str = "en") -> tuple[str, str, str, dict[str, str]]:
    """(theme, preheader, synthesis, summaries) for these picks, cards numbered from 1."""
    words = TEXT.get(locale, TEXT["en"])
    if not picks:
        return "", "", "", {}
    summaries = {p.paper.id: summary(p) for p in picks}
    grouped = groups(picks, locale)
    paragraphs = []
    for label, cards in grouped.items():
        head = (words["group"] if len(cards) > 1 else words["group_one"]).format(
            label=label, k=len(cards))
        body = " ".join(f"{summaries[picks[n - 1].paper.id]} [{n}]" for n in cards)
        paragraphs.append(f"{head} {body}")
    labels = list(grouped)[:3]
    topics = (words["sep"].join(labels[:-1]) + words["and"] + labels[-1]
              if len(labels) > 1 else labels[0])
    key = "preheader" if len(picks) > 1 else "preheader_one"
    preheader = shorten(words[key].format(n=len(picks), topics=topics), 150)
    return shorten(labels[0], 80), preheader, "\n\n".join(paragraphs), summaries
