"""A paper's own sentences, chosen and reworded for the offline briefing and its cards.

For each paper the offline writer needs the sentence that says what the paper contributes
or what it found, in the third person and the present tense, whole (never cut), and short
enough for a paragraph of about 100 words. This module scores every sentence of the
abstract (`sentences.judge`), tries each one and its clause-shortened versions
(`sentences.shorter`), rewrites them (`attribution.attribute`) and ranks the outcome.
Deterministic: the same abstract always gives the same lines, in the same order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from newsletter.writing import attribution, sentences
from newsletter.writing.sentences import Judged, words

LINE_WORDS = 45  # a briefing line; a paragraph holds two or three of them
CARD_WORDS, CARD_CHARS = 70, 450  # a card's one or two sentences (the email allows 600)
_TERMINAL = re.compile(r"[.!?。！？]$")
_POINTING = re.compile(r"\b(?:these|those|the latter|the former|such|this (?!paper|work|"
                       r"study|article|letter)\w+)\b", re.I)
_HALF = re.compile(r"^(?:and|or|but|so|because|which|that|as)\b", re.I)  # a fragment


@dataclass(frozen=True)
class Line:
    text: str  # reworded, ending in its punctuation; cites the card when `cite` was given
    source: int  # which sentence of the abstract it comes from
    words: int
    score: float
    result: bool  # it states a concrete result (a measured number)
    contribution: bool
    named: bool  # it names the paper ("[3] proposes", "The paper finds")
    refers: bool  # it points back ("these heads", "it"): fine only after its first line


def _value(judged: Judged) -> float:
    """How much a sentence tells a reader about the paper, before its length counts."""
    value = 0.0
    value += 3.0 if judged.result else 0.0
    value += 2.0 if judged.contribution else 0.0
    value -= 3.0 if judged.background else 0.0
    value -= 4.0 if judged.boilerplate else 0.0
    value -= 1.0 if judged.index == 0 and not judged.contribution else 0.0
    value -= 0.1 * judged.index  # ties go to the earlier sentence
    return value


@lru_cache(maxsize=8192)
def lines(abstract: str, cite: str = "", limit: int = LINE_WORDS) -> tuple[Line, ...]:
    """Every acceptable line from `abstract`, best first: of each sentence the longest
    version within `limit` words. With `cite` ("[3]") each line names or cites the paper;
    without, it speaks of "the paper" (for a card)."""
    out = []
    for versions in _candidates(abstract, bool(cite)):
        for line in versions:
            if cite:
                text = line.text.replace(_CITE, cite)
                line = replace(line, text=text, words=words(text))
            if line.words <= limit:
                out.append(line)
                break  # the longest version that fits: shortening only ever loses detail
    return tuple(sorted(out, key=lambda line: (-line.score, line.source)))


_CITE = "[\ue030]"  # stands for the card's "[n]": a paper is card 3 here, card 7 there


@lru_cache(maxsize=4096)
def _candidates(abstract: str, briefing: bool) -> tuple[tuple[Line, ...], ...]:
    """Each usable sentence of `abstract` as lines, from its whole self to its shortest
    version; scored, reworded, not yet fitted to a length."""
    return tuple(tuple(_line(version, item, _value(item), _CITE if briefing else "")
                       for version in versions) for item, versions in _versions(abstract))


@dataclass(frozen=True)
class _Version:
    text: str  # a whole sentence: the abstract's, or it without some clauses
    past: bool  # in the past tense (the briefing prefers the present)
    refers: bool  # points back ("these heads")


@lru_cache(maxsize=4096)
def _versions(abstract: str) -> tuple[tuple[Judged, tuple[_Version, ...]], ...]:
    """Each usable sentence, judged, with its versions from whole to shortest; shared by
    the card and the briefing."""
    out = []
    for item in sentences.judge(sentences.split(abstract)):
        if not _TERMINAL.search(item.text) or _HALF.match(item.text):
            continue  # a title-like fragment or a sentence the splitter left open
        first = sentences.drop_lead(item.text)
        out.append((item, tuple(
            _Version(text, attribution.past_tense(text),
                     item.anaphoric or bool(_POINTING.search(text)))
            for text in (first, *sentences.shorter(first)))))
    return tuple(out)


def _line(version: _Version, item: Judged, base: float, cite: str) -> Line:
    name = cite or "the paper"
    opener = f"In {cite}, the" if cite else "The"
    rewrite = attribution.attribute(version.text, name, opener=opener)
    text = rewrite.text
    if cite and not rewrite.named:
        text = _cite_at_end(text, cite)
    score = base - (3.0 if rewrite.awkward else 0.0)
    score -= 1.0 if version.past else 0.0  # the briefing speaks in the present
    refers = version.refers
    score -= 1.5 if refers else 0.0  # "these heads": which ones?
    if re.search(r"\bUS\b", text):  # "US hospitals": reads as the forbidden "us" to a filter
        score -= 2.0
    n = words(text)
    score -= 0.03 * max(0, n - 30)  # long lines crowd the paragraph out
    result = item.result and bool(sentences.MEASURE.search(text))
    return Line(text, item.index, n, score, result, item.contribution, rewrite.named, refers)


def _cite_at_end(text: str, cite: str) -> str:
    if text.endswith((".", "。")):
        return f"{text[:-1]} {cite}{text[-1]}"
    return f"{text} {cite}"


@dataclass(frozen=True)
class Told:
    """What a paper does and what it found, in one or two of its own sentences."""
    sentences: tuple[str, ...]
    words: int
    result: bool


@lru_cache(maxsize=8192)
def told(abstract: str, cite: str = "", limit: int = LINE_WORDS) -> Told | None:
    """The best line and, when it fits within `limit` words, a second one that completes
    it (a result after a contribution, or the reverse), in the abstract's order; the second
    refers back to the first ("Its pipeline ...", "It finds ...")."""
    found = lines(abstract, cite, limit)
    if not found:
        return None
    best = found[0]
    fitting = [line for line in found[1:] if line.source != best.source
               and best.words + line.words <= limit
               and line.score + (1.5 if line.refers and line.source > best.source else 0) > 0]
    # The partner completes the best line: what the paper does for a bare result, a result
    # for a bare contribution; failing that, any line of another kind.
    def completes(line: Line) -> bool:
        return line.contribution and not line.result if best.result else line.result

    partner = next((line for line in fitting if completes(line)), None) or next(
        (line for line in fitting
         if (line.result, line.contribution) != (best.result, best.contribution)), None)
    if partner is not None:
        first, second = sorted([best, partner], key=lambda line: line.source)
        again = _reworded_after(abstract, second.source, first.named, cite,
                                limit - first.words)
        if again is not None:
            return Told((first.text, again), first.words + words(again),
                        best.result or partner.result)
    return Told((best.text,), best.words, best.result)


def _reworded_after(abstract: str, index: int, named: bool, cite: str, limit: int) -> str | None:
    """Sentence `index` reworded to follow the first: "Its pipeline ..." when that one
    named the paper. In the briefing it cites the card too."""
    text = sentences.drop_lead(sentences.split(abstract)[index])
    name = cite or "the paper"
    opener = "Its" if named else (f"In {cite}, the" if cite else "The")
    for version in [text, *sentences.shorter(text)]:
        rewrite = attribution.attribute(version, name, opener=opener, named_before=named)
        out = rewrite.text
        if cite and cite not in out:
            out = _cite_at_end(out, cite)
        if words(out) <= limit and not rewrite.awkward:
            return out
    return None


def card_summary(abstract: str, title: str = "") -> str:
    """One or two sentences for a paper's card: what it does, then what it found."""
    found = told(abstract, "", CARD_WORDS)
    if found is None:
        return _fallback(abstract, title)
    text = " ".join(found.sentences)
    return text if len(text) <= CARD_CHARS else found.sentences[0]


def _fallback(abstract: str, title: str) -> str:
    """No sentence qualifies (a one-sentence abstract of 80 words): the shortest whole
    sentence, reworded; the title when there is no sentence at all."""
    found = sentences.split(abstract)
    if not found:
        return title
    shortest = min(found, key=lambda s: (words(s), found.index(s)))
    return attribution.attribute(sentences.drop_lead(shortest), "the paper",
                                 opener="The").text


def key_sentence(abstract: str, title: str = "") -> str:
    """The abstract's sentence that states the contribution or main result, as written."""
    found = lines(abstract, "", 10_000)
    if not found:
        return title
    return sentences.split(abstract)[found[0].source]
