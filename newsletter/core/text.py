"""Text rules every stage shares: folding, author names, scripts, links and markup.

One copy of each, because copies drift and users see the difference: the ranking matched a
followed author with one folding and the email starred names with another, so `Schon,
Torsten` ranked Torsten Schön's paper first and the email did not star him.

- `fold`: TeX accents, Unicode diacritics and case away ('M{\\"u}ller' -> 'muller'), for
  matching words and names; never for display.
- `author_key` / `followed_names`: the one author-name matcher (ranking, reasons, the email's
  stars, the subject line); `title_key`: one spelling per title (a preprint's journal version).
- `HAN` / `has_han`: Chinese characters, for tokens and "is this Chinese"; `EAST_ASIAN`:
  kana, Han and Hangul letters, for names; `WIDE`: characters a terminal or mail client
  draws double width, for wrapping the plain-text part.
- `strip_links` / `strip_tags`: untrusted text (abstracts, LLM output) loses links, web
  addresses and markup, so a prompt-injected abstract cannot put a link in an email.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["EAST_ASIAN", "HAN", "LINK", "MARKUP_TAG", "WEB_ADDRESS", "WIDE", "author_key", "fold",
           "followed_names", "han_count", "has_han", "strip_links", "strip_tags", "title_key"]

# --- folding -------------------------------------------------------------------------------

# An accent or a special letter, with the braces BibTeX may put around it ('M{\\"u}ller').
_TEX_ACCENT = re.compile(r"(\{)?(?:\\[`'^\"~=.](?:\{\s*([A-Za-z])\s*\}|([A-Za-z]))"
                         r"|\\[cvHuk](?:\{\s*([A-Za-z])\s*\}|\s+([A-Za-z])))(?(1)\})")
_TEX_LETTERS = {r"\ss": "ss", r"\aa": "a", r"\AA": "A", r"\ae": "ae", r"\AE": "AE",
                r"\oe": "oe", r"\OE": "OE", r"\o": "o", r"\O": "O", r"\l": "l", r"\L": "L",
                r"\i": "i", r"\j": "j"}
_TEX_LETTER_RE = re.compile(r"(\{)?\\(ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?![A-Za-z])(?(1)\})")
# Letters NFKD does not decompose into a base letter plus a combining mark.
_UNDECOMPOSED = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae",
                               "Æ": "AE", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i",
                               "þ": "th", "ð": "d", "’": "'"})


def fold(text: str) -> str:
    """TeX accents and Unicode diacritics away, case folded: 'M{\\"u}ller' -> 'muller'.
    NFKD also maps full-width Latin letters and digits to ASCII."""
    if "\\" in text:
        text = _TEX_LETTER_RE.sub(lambda m: _TEX_LETTERS["\\" + m.group(2)], text)
        text = _TEX_ACCENT.sub(lambda m: next(g for g in m.groups()[1:] if g), text)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold()


# --- author names --------------------------------------------------------------------------

_NAME_PUNCT = re.compile(r"[^\w\s]|_")
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii"})
_TRAILING_INITIAL = re.compile(r"^(?!(?:Jr|Sr|St)\.$)[^\W\d_]{1,2}\.(?:-?[^\W\d_]{1,2}\.)*$")
_WORDS = re.compile(r"\w+")


@lru_cache(maxsize=65536)
def author_key(name: str) -> str:
    """One spelling per person: 'Müller, J{\\"o}rg', 'Jörg Müller' and 'jorg muller' all give
    'jorg muller'; 'Schon, Torsten' matches 'Torsten Schön'. Hyphens and apostrophes
    separate name parts ('Núñez-García' = 'nunez garcia'), initials keep their letter;
    'Zhang A.' (how the harvest writes bioRxiv's 'Zhang, A.') and 'A. Zhang' -> 'a zhang';
    BibTeX's 'King, Jr., Martin' and RIS's 'King, Martin, Jr.' are 'Martin King Jr.'."""
    name = name.strip()
    if name.count(",") == 1:
        last, first = (x.strip() for x in name.split(","))
        if first and first.casefold() not in _SUFFIXES:
            name = f"{first} {last}"
    elif name.count(",") == 2:  # BibTeX's `King, Jr., Martin`, RIS's `King, Martin, Jr.`
        last, middle, end = (x.strip() for x in name.split(","))
        if middle.casefold() in _SUFFIXES:
            name = f"{end} {last} {middle}"
        elif end.casefold() in _SUFFIXES:
            name = f"{middle} {last} {end}"
    elif "," not in name:
        words = name.split()
        cut = len(words)
        while cut > 1 and _TRAILING_INITIAL.match(words[cut - 1]):
            cut -= 1
        name = " ".join(words[cut:] + words[:cut])
    name = fold(name).replace("{", "").replace("}", "")
    name = _NAME_PUNCT.sub(lambda m: " " if m.group() in "-'’" else "", name.replace(".", ". "))
    return " ".join(name.split())
# Words that make a part a group rather than a person (data: extend when a feed needs it).
GROUP_WORDS = frozenset(
    "alliance association authors center centre collaboration collaborations committee "
    "consortium contributors group groups initiative institute investigators lab laboratory "
    "members network office partners program programme project society study team "
    "working".split()
)


@lru_cache(maxsize=65536)  # every sent paper of every subscriber, each day (candidates)
def surname(name: str) -> str:
    """The family name of `author_key`'s spelling: 'Zhang A.', 'Zhang, A.' and 'Ang Zhang'
    give 'zhang', 'Martin King Jr.' gives 'king'; a lone initial is never a surname. A group
    is named by its own words: '(The) ATLAS Collaboration' is 'atlas', never 'collaboration'."""
    words = author_key(name).split()
    if GROUP_WORDS.intersection(words):
        return " ".join(w for w in words if w not in GROUP_WORDS and w != "the")
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    return words[-1] if words else ""


_SUB_SUP = str.maketrans("", "", "_^")


@lru_cache(maxsize=65536)  # the same papers recur across subscribers' histories
def title_key(title: str) -> str:
    """One spelling per title, to recognise a paper under another id (a journal version):
    case, accents, punctuation and markup folded away. A preprint's TeX sub- and superscripts
    ('La$_4$Ni$_3$O$_{10}$', cleaned to 'La_4Ni_3O_10') and Unicode ones ('La₄') read as the
    journal's plain 'La4Ni3O10'. The one title normaliser: ranking (one paper, once, own
    papers) and the library import all use it."""
    return " ".join(_WORDS.findall(fold(title).translate(_SUB_SUP)))


def followed_names(authors: Iterable[str], followed: Iterable[str]) -> dict[str, str]:
    """The paper's authors that are followed: {name as the paper spells it: name as the
    subscriber typed it}, in the paper's order."""
    wanted: dict[str, str] = {}
    for name in followed:
        wanted.setdefault(author_key(name), name)
    wanted.pop("", None)
    return {author: wanted[key] for author in authors
            if (key := author_key(author)) in wanted}


# --- scripts -------------------------------------------------------------------------------

# Han ideographs: CJK Extension A, the Unified block, Compatibility Ideographs. Chinese text
# is tokenized as bigrams of these and counted to tell Chinese from English.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{HAN}]")
# Drawn double width (East Asian Wide and Fullwidth): Hangul Jamo, CJK punctuation, kana,
# Han, Hangul syllables, compatibility forms, full-width forms. Wider than HAN on purpose:
# the plain-text wrap must count every double-width character, Chinese or not.
WIDE = re.compile("[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff"
                  "\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60"
                  "\uffe0-\uffe6]")


# Letters of the East Asian scripts (kana, Han, Hangul): a name written in them has no
# "First Last" order to guess.
EAST_ASIAN = re.compile(f"[\u3040-\u30ff{HAN}\uac00-\ud7af]")


def has_han(text: str) -> bool:
    return _HAN_RE.search(text) is not None


def han_count(text: str) -> int:
    return len(_HAN_RE.findall(text))


# --- links and markup in untrusted text ----------------------------------------------------

# Schemes that make a link; `data:` only as a media type ('data:text/html,...'), so prose
# such as "our data: 5 sets" is left alone.
LINK = re.compile(r"(?i)(?:(?:https?|ftp)://|\bwww\.|\bmailto:|\bjavascript:|\bdata:\w+/)\S*")
# Bare domains mail clients turn into links ('evil.com/x').
WEB_ADDRESS = re.compile(r"(?i)\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|ai|dev|edu|gov|co|ly|"
                         r"me|info)\b(?:/\S*)?")
MD_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)")
# Only real HTML/MathML/JATS tags: arXiv abstracts use a bare `<` in TeX (`$p {<} 0.01$`,
# `p < 0.05`) that a generic `<[^>]+>` would take for a tag, eating text up to the next `>`.
MARKUP_TAG = re.compile(
    r"</?(?:a|abbr|b|br|cite|code|div|em|font|h[1-6]|i|img|li|ol|p|small|span|"
    r"strong|sub|sup|table|tbody|td|th|thead|tr|tt|u|ul|[a-z]+:[a-z-]+)"
    r"(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)


def strip_links(text: str | None) -> str:
    """Markdown links keep their words, URLs and bare web addresses go."""
    text = MD_LINK.sub(r"\1", text or "")
    return WEB_ADDRESS.sub("", LINK.sub("", text))


def strip_tags(text: str, replace: str = "") -> str:
    """Markup tags away (only real tags, see MARKUP_TAG), each replaced by `replace`."""
    return MARKUP_TAG.sub(replace, text) if "<" in text else text
