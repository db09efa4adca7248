"""What papers share, in their own words: the thread of a group, and what links groups.

The offline briefing names a group's main thread ("Diffusion — 4 papers, 2 of them on
anomaly detection") and, when two groups meet on the same method, dataset or task, says so
in one closing sentence. Both come from the papers' titles and abstracts: candidate terms
are runs of one to three content words between stopwords and punctuation (the RAKE idea),
compared by their stems so "diffusion model" and "diffusion models" are one term. A term
counts when at least two papers use it; it never repeats a group's own name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

from newsletter.core.text import fold
from newsletter.ranking.text import STOPWORDS
from newsletter.writing.attribution import adverb

# Words every abstract uses: they may sit inside a term ("diffusion models") but never start
# or end one, and never stand alone.
GENERIC = frozenset("""
ability able accuracy achieve achieves across address advances analysis approach approaches
art baseline baselines benchmark benchmarks best better challenge challenges code compared
cost data dataset datasets demonstrate demonstrates design different effective efficient
existing experiment experiments extensive fail few find first framework gain gains general
given high improve improved improves improvement including large less low many method
methods model models much new novel number one outperform outperforms paper performance
present presents previous prior problem problems proposed provide provides quality real
recent result results several show shown significant simple single small standard
state strong study studies success task tasks three time training two various work works
without approx compared vs respectively per times well whether yet remains however often
et al state-of-the-art well-known so-called real-world large-scale long-standing
""".split())
# Names of metrics and units: a result's yardstick, not what papers are about.
YARDSTICK = frozenset(fold(w) for w in """AUC AUROC BLEU dB F1 FID FPS GPU GPUs Hz LPIPS mAP
mIoU MSE PSNR RMSE SSIM TFLOPs""".split())
_STEMMER = Stemmer.Stemmer("english")
# Never inside a term: the ranking's stopwords, and what a briefing must not say ("let us").
BREAK = STOPWORDS | {"us", "let", "ourselves"}
# A paper pointing into itself ("see Fig. 2", "Table S3", "Eq. (4)"): never what it is about,
# and it ends a run of content words wherever it stands.
_DIMENSION = re.compile(r"\d+D\b")
_SELF_REFERENCE = re.compile(
    r"\b(?:(?:see|cf)\.?\s+)?(?:fig(?:ure)?s?|tab(?:le)?s?|eq(?:uation)?s?|sec(?:tion)?s?|sect"
    r"|app(?:endix)?|alg(?:orithm)?s?)\.?\s*\(?S?\d+(?:\.\d+)*[a-z]?\)?", re.IGNORECASE)
# Words, dimensions that read as words ("3D"), numbers with their unit or scale ("1.5x", "20%",
# "2M": never a word), then any other character.
_TOKEN = re.compile(r"\d+D\b(?:-[A-Za-z0-9]+)*|\d+(?:[.,]\d+)*[A-Za-z%]*"
                    r"|[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|'s\b|\S")


@dataclass(frozen=True)
class Term:
    key: tuple[str, ...]  # stems
    text: str  # as the papers write it
    cards: tuple[int, ...]  # the papers (card numbers) that use it
    topical: bool  # in a title, or a name (ImageNet, LoRA): what papers are about


@lru_cache(maxsize=20000)
def _stem(word: str) -> str:
    """'Diffusion' and 'diffusion' are one key, and so are 'models' and 'model'."""
    return "-".join(_STEMMER.stemWords(fold(word).split("-")))


@lru_cache(maxsize=4096)  # a paper is in many digests on the same day
def terms_of(title: str, abstract: str) -> tuple[tuple[tuple[str, ...], str, bool, bool], ...]:
    """Candidate terms of one paper: (stems, the words as written, written so in the
    abstract, topical: in the title or a name). The abstract's spelling wins: titles
    capitalise every word."""
    out: dict[tuple[str, ...], list] = {}
    for text, in_title in ((abstract, False), (title, True)):
        run: list[tuple] = []  # (word as shown, stem, may open/close a term, a name)
        initial = True
        for token in [*_TOKEN.findall(_SELF_REFERENCE.sub(" . ", text)), "."]:
            word = _word(token)
            if word is None:
                if run:
                    _add_runs(run, out, in_title)
                    run = []
            else:
                stem, edge, name = word
                shown = token.lower() if (initial or in_title) and not name else token
                run.append((shown, stem, edge, name))
            initial = token in ".!?"
    return tuple((key, shown, from_abstract, topical)
                 for key, (shown, topical, from_abstract) in out.items())


@lru_cache(maxsize=50000)
def _word(token: str) -> tuple[str, bool, bool] | None:
    """(stem, may open or close a term, a name such as LoRA or GSM8K) of a word; None for
    what ends a run of content words."""
    low = token.lower()
    if not (token[0].isalpha() or _DIMENSION.match(token)) or low in BREAK or adverb(low):
        return None
    name = any(c.isupper() or c.isdigit() for c in token[1:])
    return _stem(token), low not in GENERIC and fold(low) not in YARDSTICK, name


def _add_runs(run: list[tuple], out: dict[tuple[str, ...], list], in_title: bool) -> None:
    """Every term of one to three words inside a run. A single word counts only as a name
    ('reconstruction' says little; ImageNet, LoRA, MVTec say what a paper is about); a term
    neither starts nor ends on a generic word, nor ends on a participle."""
    n = len(run)
    for start in range(n):
        if not run[start][2]:
            continue
        for end in range(start + 1, min(start + 3, n) + 1):
            last = run[end - 1]
            if not last[2] or last[0].endswith("ed") or (end - start == 1 and not (
                    last[3] and len(last[0]) >= 3)):
                continue
            words = run[start:end]
            key = tuple(w[1] for w in words)
            topical = in_title or any(w[3] for w in words)
            if key not in out:
                out[key] = [" ".join(w[0] for w in words), topical, not in_title]
            elif topical:
                out[key][1] = True


def _excluded(key: tuple[str, ...], labels: list[str]) -> bool:
    stems = {_stem(w) for label in labels for w in re.findall(r"[\w-]+", label)}
    parts = {p for stem in stems for p in stem.split("-")}
    return any(stem in stems or set(stem.split("-")) & parts for stem in key)


def _rank(term: Term) -> tuple:
    # More papers first; then what titles name; then multi-word terms (more specific).
    return (-len(term.cards), not term.topical, -min(len(term.key), 2), -len(term.key),
            term.cards, term.text)


def shared(docs: dict[int, tuple[str, str]], labels: list[str]) -> list[Term]:
    """Terms used by at least two of these papers (card -> (title, abstract)), best first,
    never one that repeats a word of `labels`."""
    seen: dict[tuple[str, ...], list[int]] = defaultdict(list)
    shown: dict[tuple[str, ...], str] = {}
    as_titled: dict[tuple[str, ...], str] = {}
    topical: set[tuple[str, ...]] = set()
    for card in sorted(docs):
        for key, text, from_abstract, is_topical in terms_of(*docs[card]):
            seen[key].append(card)
            (shown if from_abstract else as_titled).setdefault(key, text)
            if is_topical:
                topical.add(key)
    shown = {**as_titled, **shown}
    found = [Term(key, shown[key], tuple(cards), key in topical) for key, cards in seen.items()
             if len(cards) >= 2 and not _excluded(key, labels)]
    return sorted(_prune(found), key=_rank)


def _prune(found: list[Term]) -> list[Term]:
    """Drop a term inside a longer one that the very same papers use ('splatting' when
    'gaussian splatting' covers the same cards)."""
    by_cards: dict[tuple[int, ...], list[Term]] = defaultdict(list)
    for term in found:
        by_cards[term.cards].append(term)
    return [term for term in found if not any(
        len(other.key) > len(term.key) and _contains(other.key, term.key)
        for other in by_cards[term.cards])]


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def thread(docs: dict[int, tuple[str, str]], labels: list[str]) -> Term | None:
    """The group's main thread: a term two or more of its papers use, when it is what a
    title names or three papers share; None otherwise."""
    return next((t for t in shared(docs, labels) if t.topical or len(t.cards) >= 3), None)


def link(groups: list[tuple[str, list[int]]], docs: dict[int, tuple[str, str]]
         ) -> Term | None:
    """A topical term that papers of two or more groups use; None when the groups share
    nothing worth naming."""
    group_of = {card: label for label, cards in groups for card in cards}
    best = None
    for term in shared(docs, [label for label, _ in groups]):
        where = {group_of[c] for c in term.cards if c in group_of}
        if len(where) < 2 or not term.topical:
            continue
        rank = (-len(where), *_rank(term))
        if best is None or rank < best[0]:
            best = (rank, term)
    return best[1] if best else None
