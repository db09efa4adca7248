"""Words for ranking: papers and topics as Porter2 stems, Chinese as character bigrams.

Pure functions over strings, used by the index (papers), the engine and the reasons
(topics). Folding (TeX accents, diacritics, case) is `newsletter.core.text.fold`, the same
for every stage. The stopwords and the Chinese -> English research glossary are data
(`data/stopwords.txt`, `data/glossary.toml`), shipped as package data.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise

import Stemmer

from newsletter.core.text import HAN, fold, has_han

__all__ = ["GLOSSARY", "STOPWORDS", "Form", "bigrams", "tokens", "tokens_with_stops",
           "topic_forms"]

_DATA = resources.files("newsletter.ranking") / "data"
_STEMMER = Stemmer.Stemmer("english")
_TOKEN_RE = re.compile(f"[a-z0-9]+|[{HAN}]+")


def _stopwords() -> frozenset[str]:
    lines = (_DATA / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if (w := line.split("#", 1)[0].strip()))


def _glossary() -> dict[str, str]:
    with (_DATA / "glossary.toml").open("rb") as handle:
        return dict(tomllib.load(handle)["terms"])


STOPWORDS = _stopwords()
# Chinese research terms -> English, for topics typed in Chinese (papers are mostly English).
GLOSSARY = _glossary()
_GLOSSARY_MAX = max(map(len, GLOSSARY))


def tokens_with_stops(text: str) -> list[str]:
    """Stems in order, stopwords kept (phrases need them); Chinese as character bigrams."""
    out: list[str] = []
    for tok in _TOKEN_RE.findall(fold(text)):
        if tok[0] >= "\u3400":
            out.extend([tok] if len(tok) == 1 else [tok[i:i + 2] for i in range(len(tok) - 1)])
        else:
            out.append(tok)
    latin = [i for i, t in enumerate(out) if t[0] < "\u3400" and t not in STOPWORDS]
    for i, stem in zip(latin, _STEMMER.stemWords([out[i] for i in latin])):
        out[i] = stem
    return out


def tokens(text: str) -> list[str]:
    return [t for t in tokens_with_stops(text) if t not in STOPWORDS]


def bigrams(toks: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(toks)]


def _translate(text: str) -> str | None:
    """Greedy longest-match translation of the Chinese runs of a topic; None if none known."""
    parts, hit, i = [], False, 0
    while i < len(text):
        for size in range(min(_GLOSSARY_MAX, len(text) - i), 0, -1):
            if text[i:i + size] in GLOSSARY:
                parts.append(f" {GLOSSARY[text[i:i + size]]} ")
                hit, i = True, i + size
                break
        else:
            if not has_han(text[i]):
                parts.append(text[i])
            i += 1
    return " ".join("".join(parts).split()) if hit else None


@dataclass(frozen=True)
class Form:
    """One way a topic can appear: its tokens, and the pairs that must stay together."""

    tokens: list[str]
    label: str | None  # the English rendering of a Chinese topic, for the reason
    glued: frozenset[str]  # bigrams inside hyphenated words: "on-policy" never scatters


def topic_forms(topic: str) -> list[Form]:
    """The token sequences a topic matches: itself, and for Chinese its English rendering."""
    texts = [(topic, None)]
    if has_han(topic) and (english := _translate(topic)):
        texts.append((english, english))
    forms = []
    for text, label in texts:
        glued = {g for chunk in text.split() for g in bigrams(tokens_with_stops(chunk))}
        forms.append(Form(tokens_with_stops(text), label, frozenset(glued)))
    return [f for f in forms if f.tokens]
