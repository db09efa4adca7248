"""Author strings to one clean name per author: the one splitter every feed kind uses.

Feeds write authors in a handful of shapes, often all of a paper's authors in one string:
- `First Last, First Last` (arXiv RSS, Wiley, ScienceDirect's "Author(s):" line), with
  `and` / `&` before the last name in some journals;
- `Last, I., Last, I.` (bioRxiv RDF, old Science feeds), sometimes typed in lower case:
  `Zhang, a., jiang, x.`;
- `Last, I.; Last, I.` (api.biorxiv.org), and `Last, First` for one person;
- one person per element (`<author><name>`, repeated `dc:creator`): the caller says `single`.

The reading is chosen for the whole string, never comma by comma, because a comma means
"next author" in one shape and "given names follow" in another:
1. Semicolons (or `；`) separate people; a comma inside one of them inverts `Last, First`.
2. Otherwise the commas (also `，` and `、`) cut the string into parts, a bare suffix
   (`Jr.`, `III`) staying with the part before it. The parts are read as `Last, Given` pairs
   when there is an even number of them and every second part is given names ending in an
   initial (`A.`, `P.-L.`, `Jaan H.`) while the others are not, or when every part is a
   single Latin word (`Smith, John`). Otherwise each part is one person (`First Last`), and a
   stray part made only of initials is joined to the surname before it.
3. A pair whose given names are only initials reads `Last I.` (`Zhang A.`, `O'Connell R. J.`);
   one with a given name reads `Given Last` (`John Smith`). Initials are capitalised, and so is
   a surname typed all in lower case (`jiang, x.` -> `Jiang X.`; particles such as `van der`
   stay lower case). Names written `First Last` are kept as their authors typed them.
Collaborations (`ATLAS Collaboration`) are never inverted or joined; CJK names have no
inversion; TeX accents and HTML entities are resolved by `clean_text` first; `et al.` is
dropped; commas inside parentheses ("(Univ. London, UK)") do not separate authors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from newsletter.core.text import EAST_ASIAN, GROUP_WORDS
from newsletter.harvest.textclean import clean_text, collapse

# Lower-case surname particles that stay lower case when a lower-cased surname is capitalised.
PARTICLES = frozenset("af al bin binti da das de del della der di dos du el la le ten ter van "
                      "von y zu".split())
SUFFIXES = frozenset("jr jr. sr sr. ii iii iv".split())

_PEOPLE = re.compile(r"[;；](?![^()]*\))")
_PARTS = re.compile(r"[,，、](?![^()]*\))")  # not inside "(Univ., City)" affiliations
_AND = re.compile(r"\s+(?:and|&)\s+|^(?:and|&)\s+", re.IGNORECASE)
_ET_AL = re.compile(r"^(?:et\.?\s*al\.?|and others)$", re.IGNORECASE)
_L = r"[^\W\d_]"  # a letter, in any script
# One initial: "A.", "Ch.", "A.B.", "N.C", "P.-L.", "J-F", or bare capitals "A", "RJ".
_INITIAL = re.compile(
    rf"^(?:(?:{_L}{{1,2}}\.)+{_L}?|{_L}\.?(?:-{_L}\.?)+|[A-Z]{{1,3}})$"
)
_DOTTED = re.compile(rf"^(?:(?:{_L}{{1,2}}\.)+{_L}?|{_L}\.?(?:-{_L}\.?)+)$")
_WORD_START = re.compile(rf"(?<!{_L})({_L})")
_GROUP = re.compile(r"(?<![^\W_])(?:" + "|".join(sorted(GROUP_WORDS)) + r")(?![^\W_])",
                    re.IGNORECASE)


def split_authors(names: Iterable[str], *, single: bool = False) -> list[str]:
    """One clean name per author, in order, from raw author strings.

    `single`: each string names one person (an `<author><name>` element), so a comma in it
    can only invert `Last, First`; otherwise a string may hold a whole author list.
    """
    authors: list[str] = []
    for raw in names:
        text = clean_text(raw)
        if not text:
            continue
        people = [_person(text)] if single else _split(text)
        authors.extend(p for p in people if p)
    return authors


def _split(text: str) -> list[str]:
    if ";" in text or "；" in text:
        pieces = [collapse(p) for p in _PEOPLE.split(text)]
        if len(pieces) > 1:
            return [_person(piece) for piece in pieces if piece]
    return _read_parts(_parts(text))


def _parts(text: str) -> list[str]:
    """Comma-separated parts, with `and` before the last name split off, `et al.` dropped."""
    conjunction = "&" in text or " and " in text.lower() or text[:4].lower() == "and "
    parts: list[str] = []
    for part in _PARTS.split(text):
        part = collapse(part)
        sides = [collapse(s) for s in _AND.split(part)] if conjunction else [part]
        if len(sides) > 1 and not any(_is_group(s) for s in sides if s):
            parts.extend(s for s in sides if s)
        elif part:
            parts.append(part)
    return [p for p in parts if not (" al" in p or " others" in p) or not _ET_AL.match(p)]


def _read_parts(parts: list[str]) -> list[str]:
    units = _attach_suffixes(parts)
    if _pairs(units):
        return [
            _invert(units[i][0], units[i + 1][0], units[i + 1][1] or units[i][1])
            for i in range(0, len(units), 2)
        ]
    people: list[str] = []
    joined = False  # the last person already got initials from the next part
    for part, suffix in units:
        if people and not joined and _is_initials(part) and not _is_group(people[-1]):
            people[-1] = _invert(people[-1], part, suffix)
            joined = True
            continue
        people.append(f"{part} {suffix}" if suffix else part)
        joined = False
    return people


def _person(text: str) -> str:
    """One person's name, `Last, First` (with an optional `Jr.`) turned round."""
    units = _attach_suffixes([collapse(p) for p in _PARTS.split(text) if p.strip()])
    if len(units) == 2 and not _is_group(units[0][0]) and not EAST_ASIAN.search(text):
        return _invert(units[0][0], units[1][0], units[1][1] or units[0][1])
    if len(units) == 1:
        part, suffix = units[0]
        return f"{part} {suffix}" if suffix else part
    return collapse(text)


def _attach_suffixes(parts: list[str]) -> list[tuple[str, str]]:
    units: list[tuple[str, str]] = []
    for part in parts:
        if units and part.casefold() in SUFFIXES:
            units[-1] = (units[-1][0], part)
        else:
            units.append((part, ""))
    return units


def _pairs(units: list[tuple[str, str]]) -> bool:
    """Is the whole list `Last, Given, Last, Given, ...`?"""
    if len(units) < 2 or len(units) % 2:
        return False
    surnames = [u[0] for u in units[0::2]]
    givens = [u[0] for u in units[1::2]]
    if all(_ends_with_initial(g) for g in givens):
        pairs = not any(_ends_with_initial(s) for s in surnames)
    else:  # "Smith, John": only when every part is one Latin word and none is an initial
        pairs = all(" " not in p and not _INITIAL.match(p) for p in surnames + givens)
    return pairs and not any(_is_group(p) or EAST_ASIAN.search(p) for p in surnames + givens)


def _invert(surname: str, given: str, suffix: str = "") -> str:
    surname = _capitalise(surname) if surname == surname.lower() else surname
    if _is_initials(given):
        given = _WORD_START.sub(lambda m: m.group(1).upper(), given)
        name = f"{surname} {given}"
    else:
        name = f"{_capitalise(given) if given == given.lower() else given} {surname}"
    return f"{name} {suffix}" if suffix else name


def _capitalise(name: str) -> str:
    """`o'connell` -> `O'Connell`, `van der berg` -> `van der Berg` (first letters of words)."""
    words = name.split(" ")
    out = []
    for index, word in enumerate(words):
        keep = word in PARTICLES and index < len(words) - 1
        out.append(word if keep else _WORD_START.sub(lambda m: m.group(1).upper(), word))
    return " ".join(out)


def _is_initials(part: str) -> bool:
    if "." not in part and "-" not in part and not (len(part) <= 3 or part.isupper()):
        return False  # the common case, a full name, without a regex
    tokens = part.split()
    return bool(tokens) and all(
        _INITIAL.match(t) and t.casefold() not in SUFFIXES for t in tokens
    )


def _ends_with_initial(part: str) -> bool:
    tokens = part.split()
    if not tokens or tokens[-1].casefold() in SUFFIXES:
        return False
    last = tokens[-1]
    return bool(_DOTTED.match(last) or (len(tokens) == 1 and _INITIAL.match(last))
                or (len(last) == 1 and last.isupper()))


def _is_group(part: str) -> bool:
    return bool(_GROUP.search(part))


def name_parts(name: str) -> tuple[str, str, str] | None:
    """(surname, given names, suffix) of one name as `split_authors` writes it, for
    citation formats that want `Last, First`; None for a name to keep whole (a group, a
    CJK name, a single word). `Zhang A.` and `O'Connell R. J.` carry their initials after
    the surname; `Ludwig van Beethoven` keeps its particle with the surname; a stored
    `Last, First` (an old row) is read as it says."""
    text = collapse(name)
    if not text or _is_group(text) or EAST_ASIAN.search(text):
        return None
    if text.count(",") == 1:
        surname, given = (collapse(p) for p in text.split(","))
        return (surname, given, "") if surname and given else None
    words = text.split(" ")
    suffix = words.pop() if len(words) > 2 and words[-1].casefold() in SUFFIXES else ""
    if len(words) < 2:
        return None
    cut = len(words)
    while cut > 1 and _is_initials(words[cut - 1]):
        cut -= 1
    if cut < len(words):  # `Zhang A.`: the initials follow the surname
        return " ".join(words[:cut]), " ".join(words[cut:]), suffix
    start = len(words) - 1  # `Given [particles] Surname`
    while start > 1 and words[start - 1] in PARTICLES:
        start -= 1
    return " ".join(words[start:]), " ".join(words[:start]), suffix
