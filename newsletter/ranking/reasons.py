"""Why a paper was picked, as data: computed when the digest is prepared, stored on each
DigestItem (a JSON list), worded only when shown, in the reader's language, by
`newsletter.locale.reasons.reason_text`. Nothing here knows a word of English or Chinese.

A `Reason` is a kind, the interest as the subscriber typed it (`value`), what in the paper
matched (`matched`: the author as the paper spells it, the topic's words found, the
category), the English rendering of a topic typed in Chinese (`gloss`), and for kinds that
point at another paper, that paper (`paper`: id, title, year).

Adding a kind is one entry in `STRENGTH` (how strongly it explains a pick: reasons are
stored strongest first, and an email shows the first few), one `reason_<kind>` wording in
newsletter/locale, and the code that finds it (here, or beside a learned score).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from newsletter.core.text import followed_names
from newsletter.ranking import learned
from newsletter.ranking.index import Corpus
from newsletter.ranking.rank import FOLLOWED_BONUS, Profile
from newsletter.ranking.text import STOPWORDS, bigrams, tokens_with_stops, topic_forms

__all__ = ["STRENGTH", "PaperRef", "Reason", "followed_author", "interests_matched",
           "reasons", "reasons_from_json", "reasons_to_json"]

# kind -> strength. author: a followed author wrote it; title | abstract: a topic as a
# phrase there; words: all of a topic's words, apart; partial: some of them (scaled by the
# share found); category: a followed category or archive; feedback: like papers the reader
# asked for more of; similar: close to one of the reader's own papers (library or liked; the
# learned model); source / recent: nothing else to say (never stored beside another).
STRENGTH: dict[str, float] = {
    "author": FOLLOWED_BONUS, "title": 3.0, "similar": 2.5, "abstract": 2.0, "words": 1.0,
    "category": 0.5, "partial": 0.1, "feedback": 0.05, "source": 0.0, "recent": 0.0,
}
# Kinds that name one of the subscriber's interests (what `interests_matched` lists).
INTEREST_KINDS = frozenset({"author", "title", "abstract", "words", "partial", "category"})


@dataclass(frozen=True)
class PaperRef:
    """Another paper a reason points at ("close to your paper *Title* (2024)")."""

    title: str
    year: str | None = None
    id: str | None = None  # our paper id, when the paper is in the store


@dataclass(frozen=True)
class Reason:
    kind: str
    value: str = ""  # the interest as the subscriber typed it: topic, category, name, source
    matched: tuple[str, ...] = ()  # what in the paper matched it
    gloss: str | None = None  # the English rendering of a topic typed in Chinese
    paper: PaperRef | None = None

    def as_dict(self) -> dict[str, Any]:
        """The stored (JSON) form; empty fields are left out."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.value:
            data["value"] = self.value
        if self.matched:
            data["matched"] = list(self.matched)
        if self.gloss:
            data["gloss"] = self.gloss
        if self.paper is not None:
            data["paper"] = {k: v for k, v in vars(self.paper).items() if v is not None}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason | None:
        """A stored reason; None for anything unreadable (a row is never lost for it)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
            return None
        paper = data.get("paper")
        ref = None
        if isinstance(paper, Mapping) and paper.get("title"):
            ref = PaperRef(str(paper["title"]), str(paper["year"]) if paper.get("year") else None,
                           str(paper["id"]) if paper.get("id") else None)
        matched = data.get("matched") or ()
        return cls(data["kind"], str(data.get("value") or ""),
                   tuple(str(m) for m in matched) if isinstance(matched, list) else (),
                   str(data["gloss"]) if data.get("gloss") else None, ref)


def reasons_to_json(found: Iterable[Reason]) -> list[dict[str, Any]]:
    return [reason.as_dict() for reason in found]


def reasons_from_json(data: Any) -> list[Reason]:
    """Stored reasons back as `Reason`s; rows prepared before they were stored give []."""
    if not isinstance(data, list):
        return []
    return [r for r in map(Reason.from_dict, data) if r is not None]


def followed_author(found: Iterable[Reason]) -> str | None:
    """The first followed author, as the paper spells the name (what the email names)."""
    return next((r.matched[0] if r.matched else r.value for r in found if r.kind == "author"),
                None)


def interests_matched(found: Iterable[Reason]) -> list[str]:
    """The subscriber's interests (as typed) the reasons name, strongest first."""
    return list(dict.fromkeys(r.value for r in found if r.kind in INTEREST_KINDS))


def _at(form: list[str], toks: list[str]) -> bool:
    k = len(form)
    return any(toks[i:i + k] == form for i in range(len(toks) - k + 1)) if k else False


def _words_found(text: str, present: set[str]) -> tuple[str, ...]:
    """The words of a topic (as typed, or its English rendering) that the paper holds."""
    found = []
    for word in text.split():
        content = [t for t in tokens_with_stops(word) if t not in STOPWORDS]
        if content and all(t in present for t in content):
            found.append(word)
    return tuple(found)


def reasons(corpus: Corpus, profile: Profile, index: int) -> list[Reason]:
    """Why paper `index` suits `profile`, strongest first (ties in the subscriber's order).
    Always at least one: the source they follow, or 'recent' when nothing else applies."""
    doc = corpus.docs[index]
    parts: list[tuple[float, Reason]] = []
    by_name = followed_names(doc.authors, profile.authors)
    for typed in profile.authors:
        spelled = [author for author, name in by_name.items() if name == typed]
        if spelled:
            parts.append((STRENGTH["author"], Reason("author", typed, tuple(spelled[:1]))))
    title, abstract = corpus.title_tokens[index], corpus.abstract_tokens[index]
    present = set(title) | set(abstract) | set(bigrams(title)) | set(bigrams(abstract))
    for topic in profile.keywords:
        best: tuple[float, Reason] | None = None
        for fm in topic_forms(topic):
            form = fm.tokens
            content = [t for t in form if t not in STOPWORDS]
            hits = sum(t in present for t in content)
            if not hits:
                continue
            if _at(form, title):
                kind = "title"
            elif _at(form, abstract):
                kind = "abstract"
            elif hits == len(content) and fm.glued <= present:
                kind = "words"
            else:
                kind = "partial"
            weight = STRENGTH[kind] * (hits / len(content) if kind == "partial" else 1.0)
            if best is None or weight > best[0]:
                words = _words_found(fm.label or topic, present)
                best = (weight, Reason(kind, topic, words, fm.label))
        if best:
            parts.append(best)
    cats = {c.lower(): c for c in doc.categories}
    for cat in profile.categories:
        want = cat.lower()
        hit = [c for low, c in cats.items() if low == want or low.split(".")[0] == want]
        if hit:
            parts.append((STRENGTH["category"], Reason("category", cat, tuple(hit))))
    # A paper nothing else explains was picked by the model: name the nearest paper even when
    # this corpus' statistics score it a little differently.
    if (similar := _similar(corpus, profile, index, force=not parts)) is not None:
        parts.append((STRENGTH["similar"], similar))
    if profile.term_weights and any(profile.term_weights.get(t, 0) > 0 for t in present):
        parts.append((STRENGTH["feedback"], Reason("feedback")))
    parts.sort(key=lambda x: -x[0])  # stable: ties keep the subscriber's order
    if parts:
        return [reason for _, reason in parts]
    homes = {doc.source.casefold(): doc.source, (doc.journal or "").casefold(): doc.journal}
    source = next((s for s in profile.sources if s.casefold() in homes), None)
    return [Reason("source", source, (homes[source.casefold()],)) if source
            else Reason("recent")]


def _similar(corpus: Corpus, profile: Profile, index: int, *, force: bool = False
             ) -> Reason | None:
    """"Close to your paper *Title* (2024)": the nearest library or liked paper, when the
    learned model alone would have qualified this paper (or, `force`, whenever it has one)."""
    if profile.model is None or corpus.vectors is None or profile.anchors is None \
            or not len(profile.anchors):
        return None
    vector = corpus.vectors[index]
    z = learned.score([profile.model], vector[None], corpus.weights[index], corpus.vocab)
    if z[0, 0] < learned.QUALIFY and not force:
        return None
    best, _ = learned.nearest(profile.anchors, vector)
    title, year = profile.anchor_labels[best]
    return Reason("similar", paper=PaperRef(title, year or None))
