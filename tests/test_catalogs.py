"""The translation catalogs: complete, compiled, in step with the code, and used as written.

Every language's `.po` translates every msgid of the template; the shipped `.mo` is what
compiling the `.po` gives now; the template lists exactly what `pybabel extract` finds in
the code and templates today. Then the lookup itself: plurals, fallbacks, languages.
"""

from __future__ import annotations

import gettext
import io
import shutil
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from newsletter.locale import i18n
from newsletter.subscribers import validation
from newsletter.subscribers.validation import InvalidInput

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "newsletter" / "locale"
TRANSLATED = [code for code in i18n.LOCALES if code != i18n.DEFAULT_LOCALE]


def catalog(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def keys(found) -> set[tuple[str | None, str]]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in found if m.id}


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"


def test_it_speaks_the_languages_whose_catalogs_ship():
    assert i18n.LOCALES == ("en", "zh")
    assert [i18n.normalize_locale(x) for x in ("zh-CN", "zh_Hans", "ZH", "fr", None, "")] == \
        ["zh", "zh", "zh", "en", "en", "en"]


@pytest.mark.parametrize("code", TRANSLATED)
def test_it_translates_every_message(code):
    found = catalog(po_path(code))
    untranslated = [m.id for m in found if m.id and (
        m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))]
    assert untranslated == []
    assert keys(found) == keys(catalog(LOCALE_DIR / "messages.pot"))


@pytest.mark.parametrize("code", i18n.LOCALES)
def test_it_keeps_every_placeholder_in_translations(code):
    found = catalog(po_path(code))
    problems = [(m.id, [str(e) for e in errors]) for m, errors in found.check() if errors]
    assert problems == []


@pytest.mark.parametrize("code", i18n.LOCALES)
def test_it_ships_compiled_catalogs_that_match_their_sources(code):
    compiled = io.BytesIO()
    write_mo(compiled, catalog(po_path(code)))
    compiled.seek(0)
    with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.mo").open("rb") as shipped:
        assert gettext.GNUTranslations(shipped)._catalog == \
            gettext.GNUTranslations(compiled)._catalog, \
            "messages.mo is stale: run pybabel compile -d newsletter/locale (README, Languages)"


def test_it_keeps_the_template_in_step_with_the_code(tmp_path):
    extracted = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"),
                                "--no-location", "-o", str(extracted), str(ROOT)])
    assert keys(catalog(extracted)) == keys(catalog(LOCALE_DIR / "messages.pot")), \
        "messages.pot is out of date: run pybabel extract / update (README, Languages)"


def test_it_registers_a_language_by_its_compiled_catalog(tmp_path):
    for code in ("en", "zh", "fr"):
        shutil.copytree(LOCALE_DIR / ("zh" if code == "fr" else code), tmp_path / code)
    (tmp_path / "de" / "LC_MESSAGES").mkdir(parents=True)  # not compiled: not offered
    assert i18n._registered(tmp_path) == ("en", "fr", "zh")


def test_it_counts_with_each_languages_plural_rules():
    more = "%(num)s more paper on the web", "%(num)s more papers on the web"
    en, zh = i18n.translator("en"), i18n.translator("zh")
    assert [en.ngettext(*more, n) for n in (1, 2)] == \
        ["1 more paper on the web", "2 more papers on the web"]
    assert [zh.ngettext(*more, n) for n in (1, 2)] == ["网页上还有 1 篇论文", "网页上还有 2 篇论文"]


def test_it_falls_back_to_english_when_a_translation_is_broken(caplog):
    broken = read_po(io.BytesIO(
        b'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
        b'msgid "Sent to %(email)s."\nmsgstr "%(adresse)s"\n'))
    compiled = io.BytesIO()
    write_mo(compiled, broken)
    compiled.seek(0)
    tr = i18n.Translator("en")
    tr.translations = Translations(compiled)
    assert tr.gettext("Sent to %(email)s.", email="ada@example.org") == "Sent to ada@example.org."
    assert "cannot format" in caplog.text


def test_it_picks_the_first_language_the_browser_asks_for_that_we_speak():
    assert i18n.pick_locale(None, "fr-FR,zh-CN;q=0.8,en;q=0.5") == "zh"
    assert i18n.pick_locale(None, "en-GB,zh;q=0.5") == "en"
    assert i18n.pick_locale("zh", "en") == "zh"
    assert i18n.pick_locale("xx", None) == "en"


@pytest.mark.parametrize("key", sorted(validation.MESSAGES))
def test_it_words_every_validation_message_in_every_language(key):
    error = InvalidInput("field", key, value="x", choices=i18n.LOCALES)
    words = {code: error.text(code) for code in i18n.LOCALES}
    assert len(set(words.values())) == len(words)  # translated, not English everywhere
    assert str(error) == f"field: {words['en']}"


def test_it_fills_limits_in_from_the_constants():
    for code in i18n.LOCALES:
        assert str(validation.MAX_TOPICS) in InvalidInput("k", "too_many_topics").text(code)
        assert str(validation.MAX_TOPIC_CHARS) in InvalidInput("k", "topic_too_long").text(code)
        papers = InvalidInput("max_papers", "max_papers_invalid").text(code)
        assert str(validation.MIN_PAPERS) in papers and str(validation.MAX_PAPERS) in papers
    assert InvalidInput("locale", "locale_invalid", choices=("en", "zh")).message == \
        "Language must be en or zh."


def test_it_translates_templates_into_the_renders_locale_and_escapes_what_it_fills_in():
    from jinja2 import Environment

    env = Environment(autoescape=True)
    i18n.install(env)
    template = env.from_string('{{ _("Sent to %(email)s.", email=email) }} {{ ngettext('
                               '"%(num)s more paper on the web", "%(num)s more papers on the web",'
                               ' n, num=n|number) }}')
    assert template.render(locale="zh", email="<b>ada</b>", n=1200) == \
        "发送至 &lt;b&gt;ada&lt;/b&gt;。 网页上还有 1,200 篇论文"
    assert template.render(locale="en", email="ada", n=1) == "Sent to ada. 1 more paper on the web"
    assert template.render(email="ada", n=2).startswith("Sent to ada.")  # no locale: English
