"""Turn plain view data into an email: MJML compiled once, Jinja per email, then premailer.

Pipeline per template and language, once per process (`compiled`): resolve the partials,
compile the MJML (with Jinja inside) to HTML, mark the head's <style> blocks so premailer
leaves them alone (they hold @media and dark-mode rules it cannot inline, and parsing them
with cssutils on every email is what made inlining slow), add the color-scheme meta,
write in the inline styles of the template's own classed elements (`bake_styles`: premailer
computes them once, on a skeleton of static elements), and parse the result as a Jinja
template (autoescape on). Per email: render that template, then premailer (no network)
inlines the few rules left (classes only Python-built markup uses). Never run premailer on
Jinja source: it would mangle it.

Layout choice: all cards share one mj-section (a div each inside one mj-text). A section
per card costs ~1.3 KB of MJML table wrappers (20 KB on a 15-card digest) and makes
every premailer pass slower; the cards need no columns of their own.

Everything here is pure (no database): `newsletter.compose` builds the views.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup, escape
from mjml import mjml2html
from premailer import Premailer

from newsletter.core.text import WIDE, strip_links
from newsletter.locale import i18n

TEMPLATE_DIR = Path(str(resources.files("email_templates")))  # a checkout or an installed wheel
COLOR_SCHEME_META = ('<meta name="color-scheme" content="light dark">'
                     '<meta name="supported-color-schemes" content="light dark">')
INCLUDE = re.compile(r'<mj-include\s+path="([^"]+)"\s*/>')
HEAD_STYLE = re.compile(r'<!--.*?-->|<style type="text/css">', re.DOTALL)
TEXT_RULE = "-" * 60

# Lengths past which untrusted text is cut: they keep one hostile record from eating the
# whole size budget (the budget logic then drops cards, but a 5,000-character title is
# never worth showing in full).
MAX_TITLE, MAX_SUMMARY, MAX_REASON, MAX_AUTHOR, MAX_SYNTHESIS = 300, 600, 300, 80, 5000
MAX_THEME, MAX_SUBJECT, MAX_PREHEADER, MAX_TOPICS, MAX_TOPIC = 90, 200, 200, 12, 60

ENV = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    # HTML (including templates built from compiled MJML strings) is always escaped; the
    # .txt subject and plain-text parts are not HTML, so escaping would only corrupt them.
    autoescape=select_autoescape(enabled_extensions=("html", "mjml"), default_for_string=True,
                                 default=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
i18n.install(ENV)  # _() and ngettext() translate into the render context's `locale`
log = logging.getLogger(__name__)


@dataclass
class Rendered:
    subject: str
    preheader: str
    html: str
    text: str


@dataclass
class Link:
    label: str
    url: str | None


# --- compile once -----------------------------------------------------------------------

def mjml_source(name: str, locale: str) -> str:
    """The MJML source with partials resolved and the language set (still Jinja inside).

    Partials are inlined textually rather than through mj-include, which in mjml-python
    loses the body width for included sections."""
    def load(match: re.Match) -> str:
        return INCLUDE.sub(load, (TEMPLATE_DIR / match.group(1)).read_text(encoding="utf-8"))

    source = (TEMPLATE_DIR / f"{name}.mjml").read_text(encoding="utf-8")
    return INCLUDE.sub(load, source).replace("__LANG__", i18n.html_lang(locale))


def finish_compiled(html: str) -> str:
    # premailer keeps the doctype only if it reads exactly as lxml writes it.
    html = html.replace("<!doctype html>", "<!DOCTYPE html>", 1)
    html = html.replace("<head>", "<head>" + COLOR_SCHEME_META, 1)
    return HEAD_STYLE.sub(
        lambda m: m.group(0) if m.group(0).startswith("<!--")
        else '<style type="text/css" data-premailer="ignore">', html)


@dataclass(frozen=True)
class Compiled:
    """A compiled email template: Jinja over the MJML output, with the inline styles of its
    own elements already written in, and the CSS premailer still inlines per email."""

    template: Template
    css: str

    def render(self, context: dict) -> str:
        return self.template.render(context)

    def css_for(self, html: str) -> str:
        """The rules of `css` that can style this rendered email. A `tag.class` rule whose
        class is on no element styles nothing, so it is left out: premailer re-serializes
        every property of every rule it is given on each call (most of its cost here), and
        most of these rules serve other templates or markup this email does not hold."""
        values = CLASS_VALUE.findall(html)
        if len(values) != html.count("class="):  # a class written some other way: keep all
            return self.css
        present = {name for value in set(values) for name in value.split()}

        def may_match(selector: str) -> bool:
            simple = SIMPLE_SELECTOR.match(selector)
            return simple is None or simple.group(2) in present

        return _css_text([(selectors, body) for selectors, body in _css_rules(self.css)
                          if any(may_match(s) for s in selectors)])


@cache
def compiled(name: str, locale: str) -> Compiled:
    html = finish_compiled(mjml2html(mjml_source(name, locale), fonts={}))
    html, leftover = bake_styles(html, inline_css_text())
    return Compiled(ENV.from_string(html), leftover)


@lru_cache(maxsize=1)
def inline_css_text() -> str:
    return (TEMPLATE_DIR / "partials" / "inline.css").read_text(encoding="utf-8")


# --- styles written in at compile time ----------------------------------------------------
#
# premailer's cost grows with elements x rules, and a 15-card digest repeats the same dozen
# classed elements per card. Our rules are all `tag.class`, so an element's inline style
# depends only on its tag, its class and style attributes: premailer computes it once per
# compiled template, on a skeleton holding one element per distinct (tag, class, style)
# found literally in the template, and the result is written into the template's start
# tags. Jinja is never passed through premailer (it would mangle it): only those static
# attribute values are. Per email, premailer then inlines only the rules the template does
# not use literally (markup built in Python, such as the synthesis's a.cite links).

CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
SIMPLE_SELECTOR = re.compile(r"^([a-z][a-z0-9]*)\.([A-Za-z_][\w-]*)$")
START_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)(\s[^<>]*?)?(/?)>")
CLASS_ATTR = re.compile(r'\sclass="([^"]*)"')
CLASS_VALUE = re.compile(r'class="([^"]*)"')  # no leading \s: a literal start scans ~6x faster
STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
JINJA = ("{{", "{%", "{#")


def _literal(value: str | None) -> bool:
    return value is None or not any(mark in value for mark in JINJA)


def bake_styles(html: str, css: str) -> tuple[str, str]:
    """(template with the styles of its literal classed elements written in, the CSS rules
    still needed per email). The result is what premailer alone would give after rendering;
    tests/test_compose.py checks that on a full digest."""
    rules = _css_rules(css)
    simple: set[tuple[str, str]] = set()
    for selectors, _ in rules:
        matched = [SIMPLE_SELECTOR.match(s) for s in selectors]
        if all(matched):
            simple.update((m.group(1), m.group(2)) for m in matched)

    def wanted(match: re.Match) -> tuple[str, str, str | None] | None:
        tag, attrs = match.group(1).lower(), match.group(2) or ""
        classes = CLASS_ATTR.search(attrs)
        style = STYLE_ATTR.search(attrs)
        if not classes or not _literal(classes.group(1)) or \
                not _literal(style.group(1) if style else None):
            return None
        if not any((tag, c) in simple for c in classes.group(1).split()):
            return None
        return tag, classes.group(1), style.group(1) if style else None

    combos = list(dict.fromkeys(w for m in START_TAG.finditer(html) if (w := wanted(m))))
    used = {(tag, c) for tag, classes, _ in combos for c in classes.split()}
    bakeable = [(sel, body) for sel, body in rules
                if all(SIMPLE_SELECTOR.match(s) for s in sel)]
    leftover = [(sel, body) for sel, body in rules
                if not all(SIMPLE_SELECTOR.match(s) for s in sel)
                or any(tuple(s.split(".", 1)) not in used for s in sel)]
    if not combos:
        return html, css

    skeleton = "".join(
        f'<{tag} class="{classes}"' + (f' style="{style}"' if style is not None else "")
        + f' data-bake="{i}"></{tag}>' for i, (tag, classes, style) in enumerate(combos))
    styled = inline(f"<html><body>{skeleton}</body></html>", _css_text(bakeable))
    found = {int(el.get("data-bake")): el.get("style")
             for el in lxml.html.document_fromstring(styled).iter()
             if el.get("data-bake") is not None}
    baked = {combo: found.get(i) for i, combo in enumerate(combos)}

    def write(match: re.Match) -> str:
        combo = wanted(match)
        value = baked.get(combo) if combo else None
        if value is None:
            return match.group(0)
        value = value.replace("&", "&amp;").replace('"', "&quot;")
        tag, attrs, close = match.group(1), match.group(2) or "", match.group(3)
        if STYLE_ATTR.search(attrs):
            attrs = STYLE_ATTR.sub(lambda _: f' style="{value}"', attrs, count=1)
        else:
            attrs = attrs.rstrip() + f' style="{value}"' if not close else \
                attrs.rstrip() + f' style="{value}" '
        return f"<{tag}{attrs}{close}>"

    return START_TAG.sub(write, html), _css_text(leftover)


@lru_cache(maxsize=64)
def _css_rules(css: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """(selectors, declarations) of each rule of a flat stylesheet (no @media inside)."""
    return tuple((tuple(s.strip() for s in sel.split(",")), body.strip())
                 for sel, body in CSS_RULE.findall(CSS_COMMENT.sub("", css)))


def _css_text(rules) -> str:
    return "\n".join(f"{', '.join(sel)} {{ {body} }}" for sel, body in rules)


# premailer copies styles into align/valign/bgcolor/width/height attributes, which only table
# cells use; our classes style text elements (p, a, div), where they are invalid.
BASIC_ATTRIBUTES = ("align", "valign", "bgcolor", "width", "height")
# cssutils (premailer's parser) warns about properties it does not know (mso-*, color-scheme).
# Set once here: premailer's cssutils_logging_level option would set it on every call, and
# each setLevel clears every logger's cache (about 5% of an email's time).
logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)


def inline(html: str, css: str | None = None) -> str:
    """premailer with `css` (default: all of inline.css), no network, @media left alone.
    Public options only: no private method for a premailer upgrade to break."""
    return Premailer(
        html, css_text=[inline_css_text() if css is None else css], allow_network=False,
        disable_validation=True, disable_link_rewrites=True, remove_classes=False,
        strip_important=False, align_floating_images=False,
        disable_basic_attributes=list(BASIC_ATTRIBUTES),
    ).transform(pretty_print=False)


def render_html(name: str, locale: str, context: dict) -> str:
    template = compiled(name, locale)
    html = template.render(context)
    return inline(html, template.css_for(html))


def wrap(text: str, width: int = 72) -> str:
    """Greedy word wrap for the plain-text part (textwrap is several times slower, and this
    is most of the text part's cost). Long CJK runs, which have no spaces, are cut every
    width/2 characters (they are double width); URLs are never cut."""
    if not WIDE.search(text):  # the common case, without per-word checks
        lines, line = [], ""
        for word in text.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        return "\n".join(lines + [line] if line else lines)
    lines, line, used = [], "", 0
    for word in text.split():
        step = width // 2
        cjk = WIDE.search(word) is not None
        chunks = [word[i:i + step] for i in range(0, len(word), step)] \
            if cjk and len(word) > step and "://" not in word else [word]
        for index, chunk in enumerate(chunks):
            size = len(chunk) * (2 if cjk else 1)
            glue = "" if index or not line else " "
            if line and used + len(glue) + size > width:
                lines.append(line)
                line, used, glue = "", 0, ""
            line, used = line + glue + chunk, used + len(glue) + size
    if line:
        lines.append(line)
    return "\n".join(lines)


ENV.filters["wrap"] = wrap


def render_text(name: str, context: dict) -> str:
    text = ENV.get_template(f"{name}.txt").render(context)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_subject(name: str, context: dict) -> str:
    # One line, whatever the theme held: a newline in a subject is a header injection.
    return one_line(ENV.get_template(f"{name}.subject.txt").render(context), MAX_SUBJECT)


# --- untrusted text ---------------------------------------------------------------------

UNSAFE_URL_CHAR = re.compile(r"[\s\x00-\x1f\x7f\"'<>\\`]")


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs with a host; anything else (javascript:, data:, relative,
    whitespace tricks) is dropped."""
    if not url or not isinstance(url, str) or UNSAFE_URL_CHAR.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def one_line(text: str | None, limit: int) -> str:
    return cut(" ".join((text or "").split()), limit)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip(" ,;:") + "…"


SENTENCE_END = re.compile(r"[。！？]|[.!?](?=\s)")


def cut_at_sentence(text: str | None, limit: int = 320) -> str:
    """Whole sentences up to `limit` characters; a first sentence longer than that is cut."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    ends = [m.end() for m in SENTENCE_END.finditer(text[: limit + 1])]
    return text[: ends[-1]] if ends else cut(text, limit)


def clean_llm_text(text: str | None) -> str:
    """LLM text may carry only plain text and [n] citations: markdown links lose their
    target and URLs and web addresses go (a prompt-injected abstract must not put a link in
    our email). Markup needs nothing here: it is escaped at render time like everything else."""
    return strip_links(text)


CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,，]\s*\d{1,3})*)\]")


def synthesis_paragraphs(text: str, card_numbers: set[int], *, html: bool) -> list:
    """Paragraphs of the synthesis; in HTML, escaped, with [n] linked to #card-n only when
    card n is in this email."""
    text = cut_at_sentence(clean_llm_text(text).replace("\r", ""), MAX_SYNTHESIS) \
        if len(text or "") > MAX_SYNTHESIS else clean_llm_text(text).replace("\r", "")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paragraphs = [p for p in paragraphs if p]
    if not html:
        return paragraphs

    def cite(match: re.Match) -> str:
        parts = re.split(r"(\s*[,，]\s*)", match.group(1))
        linked = [
            f'<a class="cite" href="#card-{int(p)}">{p}</a>'
            if p.isdigit() and int(p) in card_numbers else p
            for p in parts
        ]
        return "[" + "".join(linked) + "]"

    return [Markup(CITATION.sub(cite, str(escape(p)))) for p in paragraphs]
