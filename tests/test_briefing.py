"""The offline briefing reads like a briefing: checked on every digest of our evaluation days.

Three days in arXiv's RSS format (tests/data/briefing, see its README) go through the real
harvest parser, the store, a subscriber's interests and the ranking, and each digest is
written by `synthesize.write` without an API key, as a new user's first digest is. Every
digest must keep the rules: papers speak in the third person, no sentence is cut, every
paragraph stays within about 100 words, every card is cited, and every sentence about a
paper is that paper's own sentence (reworded only in person and tense).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlmodel import update

from newsletter.core.models import Paper
from newsletter.harvest import harvester
from newsletter.ranking.candidates import select_papers
from newsletter.writing.synthesize import write
from tests import factories

DAYS = Path(__file__).parent / "data" / "briefing"
PROFILES = json.loads((DAYS / "profiles.json").read_text(encoding="utf-8"))
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)

FIRST_PERSON = re.compile(r"\b(?:we|our|ours|us|ourselves)\b", re.IGNORECASE)
BAD_START = re.compile(r"(?:^|[.!?。！？]\s*)(?:In this (?:work|paper|study)|Here)\b")
CITE = re.compile(r"\[(\d+)\]")
# Where a sentence ends, for the checks below (not the writer's splitter): a period that
# is not part of an abbreviation, before a citation, a capital or a Chinese character.
SENTENCE_END = re.compile(
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bet al\.)(?<!\bvs\.)(?<!\bcf\.)(?<!\bapprox\.)"
    r"(?<!\bFig\.)(?<!\bEq\.)(?:(?<=[.!?])\s+|(?<=[。！？])\s*)(?=\[\d|[A-Z]|[\u4e00-\u9fff]|$)")
# Words the rewrite may add: the paper as subject or owner, and agreeing auxiliaries.
REWRITE_WORDS = {"it", "its", "the", "paper", "in", "is", "has", "does", "authors", "own",
                 "itself", "a"}


def sentences_of(paragraph: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(paragraph) if s.strip()]


# The writer's own sentences: a group's head cites no card; a list ("Also: [3][9].") and the
# closing link ("What links the groups: a term [2][7].") end in citations after a colon.
LISTING = re.compile(r"[:：]\s*(?:(?:\[\d+\])+|(?:\S+\s+){1,6}(?:\[\d+\]){2,})[.。]$")


def framing(sentence: str) -> bool:
    return not CITE.search(sentence) or bool(LISTING.search(sentence))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower())


def variants(word: str) -> set[str]:
    """A word and the forms the third-person rewrite may have come from."""
    out = {word, word.rstrip("s"), word[:-2], word[:-3] + "y" if word.endswith("ies") else word}
    return out | {form + "ed" for form in set(out)} | {form + "d" for form in set(out)}


def from_abstract(sentence: str, abstract: str) -> tuple[bool, list[str]]:
    """Whether `sentence` is the abstract's own (its words in the abstract's order, at most
    two changed for person and tense), and the words that were not found."""
    source = words(abstract)
    sentence = CITE.sub(" ", sentence)
    missing, at = [], 0
    for word in words(sentence):
        if word in REWRITE_WORDS:
            continue
        found = next((i for i in range(at, len(source)) if source[i] in variants(word)), None)
        if found is None:
            missing.append(word)
        else:
            at = found + 1
    numbers = [w for w in words(sentence) if w[0].isdigit()]
    return len(missing) <= 2 and all(n in source for n in numbers), missing


def check_digest(picks, synthesis: str, summaries: dict[str, str], locale: str) -> None:
    """Every rule of the issue on one digest (its picks, synthesis and card summaries)."""
    n_cards = len(picks)
    abstracts = {n: pick.paper.abstract for n, pick in enumerate(picks, 1)}
    text = synthesis
    assert {int(n) for n in CITE.findall(text)} == set(range(1, n_cards + 1)), text
    for paragraph in text.split("\n\n"):
        assert len(paragraph.split()) <= 100, paragraph
        assert paragraph[-1] in ".!?。！？", paragraph
        for sentence in sentences_of(paragraph):
            assert not FIRST_PERSON.search(sentence), sentence
            assert not BAD_START.search(sentence), sentence
            assert "…" not in sentence and "..." not in sentence, sentence
            cited = {int(n) for n in CITE.findall(sentence)}
            if framing(sentence):
                continue
            assert len(cited) == 1, f"a paper's sentence cites its card once: {sentence}"
            ok, missing = from_abstract(sentence, abstracts[cited.pop()])
            assert ok, f"not the paper's own sentence ({missing}): {sentence}"
    for n, pick in enumerate(picks, 1):
        summary = summaries[pick.paper.id]
        assert summary and len(summary) <= 600, summary
        assert not FIRST_PERSON.search(summary) and not BAD_START.search(summary), summary
        assert summary[-1] in ".!?" and "…" not in summary, summary
        for sentence in sentences_of(summary):
            ok, missing = from_abstract(sentence, abstracts[n])
            assert ok, f"card {n} summary not from its abstract ({missing}): {sentence}"


def build_day(session, name: str):
    """Each profile's picks from this day, through the parser, the store and the ranking."""
    harvester.store(session, harvester.parse("arxiv_rss", (DAYS / name).read_bytes()))
    # First seen just before NOW: the candidate window does not depend on today's date.
    session.exec(update(Paper).values(first_seen=NOW - dt.timedelta(hours=2),
                                      updated_at=NOW - dt.timedelta(hours=2)))
    session.commit()
    for profile in PROFILES[name]:
        subscriber = factories.make_subscriber(
            session, f"{profile['name']}@example.org", keywords=tuple(profile["keywords"]),
            categories=tuple(profile["categories"]), authors=tuple(profile["authors"]),
            excludes=tuple(profile["excludes"]), locale=profile["locale"])
        yield profile, select_papers(session, subscriber, now=NOW)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_it_writes_every_evaluation_digest_by_the_briefing_rules(session, name):
    for profile, picks in build_day(session, name):
        assert len(picks) >= 3, profile["name"]
        writing = write(session, picks, locale=profile["locale"])
        assert writing.writer == "offline"
        check_digest(picks, writing.synthesis, writing.summaries, profile["locale"])
        again = write(session, picks, locale=profile["locale"])
        assert (again.synthesis, again.summaries) == (writing.synthesis, writing.summaries)


def test_it_frames_the_chinese_briefing_in_chinese(session):
    name = "arxiv_rss_cs.CL_2026-11-25.rss.xml"
    picks = dict((p["name"], picks) for p, picks in build_day(session, name))["llm-rl-zh"]
    synthesis = write(session, picks, locale="zh").synthesis
    for paragraph in synthesis.split("\n\n"):
        assert re.search(r"篇论文|共同线索", paragraph), paragraph
    assert "papers" not in synthesis and "Also:" not in synthesis
    assert "另见：[" in synthesis


def test_it_leads_with_what_the_paper_does_not_with_the_field(session):
    """The issue's day: [4] and [6] used to open with what the field did."""
    name = "arxiv_rss_cs.CV_2026-11-24.rss.xml"
    picks = dict((p["name"], picks) for p, picks in build_day(session, name))[
        "splatting-diffusion"]
    writing = write(session, picks)
    for background in ("Diffusion models have achieved outstanding performance",
                       "Joint image-feature generative modeling has recently emerged",
                       "3D Gaussian Splatting (3DGS) has emerged", "Code and models"):
        assert background not in writing.synthesis
        assert not any(background in s for s in writing.summaries.values())
    by_title = {p.paper.title: writing.summaries[p.paper.id] for p in picks}
    assert by_title["DGSSM: Dynamic Gaussian State Space Models for 4D Scene Reconstruction"] \
        .startswith("The paper proposes DGSSM, a dynamic Gaussian splatting method")
    urban = by_title["UrbanSplat: Large-Scale Gaussian Splatting for City Blocks"]
    assert "Its pipeline achieves 20.98 dB PSNR" in urban
