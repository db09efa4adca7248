"""Clean text out of feed fields: strip HTML markup, unescape entities, turn TeX into Unicode.

Feed titles and abstracts mix three layers: XML escaping (already undone by the XML parser),
HTML markup (journal feeds: `LaCl<sub>3</sub>`, `<i>cis-</i>`) and TeX (arXiv: `$F_{\\max}$`,
`Schr\\"odinger`, `80\\%`). The result is plain readable text on one line. Text without TeX
syntax skips the TeX parser entirely (most titles), which keeps parsing 2,000 entries fast.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

from newsletter.core.text import strip_tags

_BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|h[1-6])(?:\s[^<>]*)?/?>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

# TeX: math spans, and text-mode escapes we resolve by hand before the (slower) TeX parser.
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)", re.DOTALL)
_TEXISH = re.compile(r"[\\{}]")
_KEEP_ARG = re.compile(
    r"\\(?:texttt|textsc|textrm|textsf|textup|textnormal|text|mbox|mathrm|operatorname|url)"
    r"\s*\{([^{}]*)\}"
)
_HREF = re.compile(r"\\href\s*\{[^{}]*\}\s*\{([^{}]*)\}")
_SIMPLE_ESCAPES = {"\\%": "%", "\\&": "&", "\\_": "_", "\\#": "#", "\\$": "\ue010",
                   "\\textasciicircum{}": "^"}  # (the TeX parser would make it U+02C6)
# Characters the TeX parser would reinterpret but that abstracts use literally (`~100`,
# `50% of`, `A & B`, `--`, quotes): hidden behind private-use code points, restored afterwards.
_PROTECT = {
    "~": "\ue000",
    "-": "\ue001",
    "`": "\ue002",
    "'": "\ue003",
    "%": "\ue004",
    "&": "\ue005",
}
_UNPROTECT = {v: k for k, v in _PROTECT.items()} | {"\ue010": "$"}


def clean_html(text: str) -> str:
    """Markup to text: block tags become spaces, inline tags vanish, entities are unescaped."""
    if "<" in text:
        text = _BLOCK_TAG.sub(" ", text)
        text = strip_tags(text)  # real tags only: TeX's bare `<` stays
    if "&" in text:
        text = html.unescape(text)
    return text


def collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def clean_text(text: str | None, *, tex: bool = True, markup: bool = True) -> str:
    """One readable line from a feed field: no markup, no entities, no TeX, single spaces."""
    if not text:
        return ""
    if markup:
        text = clean_html(text)
    if tex and ("$" in text or _TEXISH.search(text)):
        text = tex_to_text(text)
    return collapse(unicodedata.normalize("NFC", text))


def tex_to_text(text: str) -> str:
    for escape, plain in _SIMPLE_ESCAPES.items():
        text = text.replace(escape, plain)
    text = _HREF.sub(r"\1", text)
    text = _KEEP_ARG.sub(r"\1", text)
    parts: list[str] = []
    last = 0
    for match in _MATH.finditer(text):
        parts.append(_tex_text_mode(text[last : match.start()]))
        parts.append(_tex_math(next(g for g in match.groups() if g is not None)))
        last = match.end()
    parts.append(_tex_text_mode(text[last:]))
    out = "".join(parts)
    for code, char in _UNPROTECT.items():
        out = out.replace(code, char)
    return out


def _tex_text_mode(segment: str) -> str:
    if not _TEXISH.search(segment):
        return segment
    protected = []
    for i, char in enumerate(segment):
        # keep `\'e`, `\"o`, `` \`a `` and `\~n` accents for the TeX parser
        if char in _PROTECT and not (i and segment[i - 1] == "\\"):
            protected.append(_PROTECT[char])
        else:
            protected.append(char)
    return _latex("".join(protected))


def _tex_math(segment: str) -> str:
    segment = segment.replace("&", "\\&").replace("%", "\\%")
    return _latex("$" + segment + "$").strip()


@lru_cache(maxsize=4096)
def _latex(segment: str) -> str:
    try:
        return _converter().latex_to_text(segment)
    except Exception:  # pylatexenc gives up on some malformed input; keep the words, drop syntax
        return re.sub(r"\\[A-Za-z]+|[{}$\\]", "", segment)


@lru_cache(maxsize=1)
def _converter():
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
