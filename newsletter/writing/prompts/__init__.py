"""The contract with the model: versioned prompt files, tool schemas, output validation.

Prompts live next to this module as `<name>.v<N>.md`; the version is part of every cache
key, so editing a prompt means adding a new file and bumping the constant below (old
cached text is then simply not reused). Validation is here because it is the other half of
the contract: what the prompt asks for is what `validate_*` accepts, and nothing else.
Paper text is untrusted; whatever an abstract says, accepted output has no markup, no
links and only citations to cards that exist.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from newsletter.core.models import Paper
from newsletter.core.text import LINK, WEB_ADDRESS, han_count

HERE = Path(__file__).resolve().parent
SYNTHESIS_VERSION = "synthesis.v1"
SUMMARY_VERSION = "summary.v1"
ABSTRACT_CHARS = 1500  # abstracts are ~1,000-1,900 chars; the tail rarely adds to a summary


@lru_cache
def prompt(version: str) -> str:
    return (HERE / f"{version}.md").read_text(encoding="utf-8").strip()


def locale_of(locale: str | None) -> str:
    return "zh" if (locale or "").lower().startswith("zh") else "en"


SYNTHESIS_TOOL: dict[str, Any] = {
    "name": "write_briefing",
    "description": "Deliver today's briefing: lead theme, preheader and 2-4 paragraphs "
                   "that connect the papers and cite their cards as [n].",
    "input_schema": {
        "type": "object",
        "properties": {
            "theme": {"type": "string", "description": "Lead theme for the subject line."},
            "preheader": {"type": "string", "description": "One inbox preview sentence."},
            "paragraphs": {"type": "array", "minItems": 1, "maxItems": 5,
                           "items": {"type": "string"},
                           "description": "Plain-text paragraphs citing cards as [n]."},
        },
        "required": ["theme", "preheader", "paragraphs"],
    },
}

SUMMARY_TOOL: dict[str, Any] = {
    "name": "write_summaries",
    "description": "Deliver a 1-2 sentence plain-language summary for every card.",
    "input_schema": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {
                "type": "object",
                "properties": {"n": {"type": "integer", "description": "The card number."},
                               "summary": {"type": "string"}},
                "required": ["n", "summary"]}},
        },
        "required": ["items"],
    },
}


def as_data(text: str) -> str:
    # full-width brackets: an abstract cannot close its <paper> tag or open a new one, and
    # nothing here invites the model to echo HTML entities (which validation rejects)
    text = re.sub(r"\s+", " ", text or "").strip()
    return text.replace("<", "＜").replace(">", "＞")


def cards(papers: list[Paper]) -> str:
    blocks = []
    for n, paper in enumerate(papers, 1):
        abstract = paper.abstract or ""
        if len(abstract) > ABSTRACT_CHARS:
            abstract = abstract[:ABSTRACT_CHARS].rsplit(" ", 1)[0] + " ..."
        authors = ", ".join(paper.authors[:6]) + (" et al." if len(paper.authors) > 6 else "")
        blocks.append(
            f'<paper n="{n}">\nTitle: {as_data(paper.title)}\nAuthors: {as_data(authors)}\n'
            f"Categories: {as_data(', '.join(paper.categories) or paper.source)}\n"
            f"Abstract: {as_data(abstract)}\n</paper>")
    return "\n".join(blocks)


# -- validation -----------------------------------------------------------------------------

CITE = re.compile(r"\[(\d{1,3})\]")
BRACKETS = re.compile(r"\[[^\]]*\]")
FORBIDDEN = [
    (re.compile(r"[<>]"), "angle brackets (markup) are not allowed"),
    (LINK, "no URLs"),
    (WEB_ADDRESS, "no web addresses"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "no e-mail addresses"),
    (re.compile(r"\]\(|\*\*|__|`|^\s*#|^\s*[-*]\s", re.M), "no Markdown"),
    (re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);", re.I), "no HTML entities"),
]
# (min, max) characters by locale: Chinese packs about twice the content per character
BOUNDS = {
    "en": {"theme": (3, 90), "preheader": (10, 200), "paragraph": (40, 1000),
           "total": 3500, "summary": (15, 400)},
    "zh": {"theme": (2, 40), "preheader": (5, 120), "paragraph": (15, 500),
           "total": 1800, "summary": (8, 200)},
}


def normalize(text: str) -> str:
    """Tidy harmless variants: full-width brackets, [1, 2] -> [1][2], stray whitespace."""
    text = str(text).replace("［", "[").replace("］", "]").replace("【", "[").replace("】", "]")
    text = re.sub(r"\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})+)\]",
                  lambda m: "".join(f"[{n}]" for n in re.split(r"\s*[,，、]\s*", m.group(1))),
                  text)
    return re.sub(r"[ \t]+", " ", text).strip()


def problems_in(text: str, what: str, locale: str, bounds: tuple[int, int]) -> list[str]:
    found = [f"{what}: {message}" for pattern, message in FORBIDDEN if pattern.search(text)]
    low, high = bounds
    if not low <= len(text) <= high:
        found.append(f"{what}: length {len(text)} is outside {low}-{high} characters")
    letters = [ch for ch in text if ch.isalpha()]
    cjk = han_count(text) / max(1, len(letters))
    if letters and locale == "zh" and cjk < 0.3:
        found.append(f"{what}: write in Simplified Chinese")
    if letters and locale == "en" and cjk > 0.05:
        found.append(f"{what}: write in English")
    return found


def validate_synthesis(data: dict[str, Any], cards_count: int,
                       locale: str) -> tuple[tuple[str, str, str], list[str]]:
    """((theme, preheader, synthesis), problems); empty problems means accepted."""
    bounds = BOUNDS[locale]
    theme = normalize(data.get("theme", "")).rstrip(".。")
    preheader = normalize(data.get("preheader", ""))
    paragraphs = data.get("paragraphs")
    if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
        return ("", "", ""), ["paragraphs must be a list of strings"]
    paragraphs = [normalize(p) for p in paragraphs if str(p).strip()]
    problems = problems_in(theme, "theme", locale, bounds["theme"])
    problems += problems_in(preheader, "preheader", locale, bounds["preheader"])
    if BRACKETS.search(theme + preheader):
        problems.append("theme and preheader: no citations or brackets")
    if not 1 <= len(paragraphs) <= 5:
        problems.append(f"write 2-4 paragraphs, not {len(paragraphs)}")
    cited: set[int] = set()
    for i, paragraph in enumerate(paragraphs, 1):
        problems += problems_in(paragraph, f"paragraph {i}", locale, bounds["paragraph"])
        numbers = [int(n) for n in CITE.findall(paragraph)]
        if not numbers:
            problems.append(f"paragraph {i}: cite the cards it discusses as [n]")
        wrong = sorted({n for n in numbers if not 1 <= n <= cards_count})
        if wrong:
            problems.append(f"paragraph {i}: cards {wrong} do not exist (1-{cards_count})")
        if any(not CITE.fullmatch(b) for b in BRACKETS.findall(paragraph)):
            problems.append(f"paragraph {i}: square brackets are only for citations like [2]")
        cited.update(numbers)
    text = "\n\n".join(paragraphs)
    if len(text) > bounds["total"]:
        problems.append(f"synthesis is {len(text)} characters; keep it under {bounds['total']}")
    if len(cited & set(range(1, cards_count + 1))) < math.ceil(cards_count / 2):
        problems.append("discuss and cite at least half of the cards")
    return (theme, preheader, text), problems


def validate_summaries(data: dict[str, Any], cards_count: int,
                       locale: str) -> tuple[dict[int, str], list[str]]:
    """({card: summary} for the acceptable items, problems with the rest)."""
    items = data.get("items")
    if not isinstance(items, list):
        return {}, ["items must be a list of {n, summary}"]
    good: dict[int, str] = {}
    problems: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("summary"), str):
            problems.append("each item needs n and summary")
            continue
        try:
            n = int(item.get("n"))
        except (TypeError, ValueError):
            problems.append("each item needs an integer n")
            continue
        if not 1 <= n <= cards_count or n in good:
            problems.append(f"card {n} does not exist or is repeated")
            continue
        text = normalize(item["summary"])
        found = problems_in(text, f"card {n}", locale, BOUNDS[locale]["summary"])
        if BRACKETS.search(text):
            found.append(f"card {n}: no citations or brackets in summaries")
        if found:
            problems += found
        else:
            good[n] = text
    missing = sorted(set(range(1, cards_count + 1)) - good.keys()
                     - {p for p in _mentioned(problems)})
    if missing:
        problems.append(f"cards {missing} have no summary")
    return good, problems


def _mentioned(problems: list[str]) -> set[int]:
    return {int(m) for p in problems for m in re.findall(r"^card (\d+)", p)}
