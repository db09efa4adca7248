"""The shared text rules (newsletter.core.text): one folding, one name matcher, one link and
markup stripper for every stage."""

from __future__ import annotations

import pytest

from newsletter.core.text import (
    WIDE,
    author_key,
    fold,
    followed_names,
    han_count,
    has_han,
    strip_links,
    strip_tags,
)


def test_it_folds_tex_accents_diacritics_and_case_alike():
    assert fold('M{\\"u}ller') == fold("Müller") == fold("MULLER") == "muller"
    assert fold("Łukasz Øster Straße") == "lukasz oster strasse"
    assert fold("ＧＰＴ４") == "gpt4"  # full-width letters and digits


@pytest.mark.parametrize("typed", ["Schon, Torsten", "torsten schon", "Torsten Schön",
                                   'T{\\"o}rsten Sch{\\"o}n'])
def test_it_matches_a_followed_author_however_the_name_is_typed(typed):
    assert author_key(typed) == author_key("Torsten Schön")
    assert followed_names(["Fredrik Lindsten", "Torsten Schön"], [typed]) == {
        "Torsten Schön": typed}


def test_it_names_each_followed_author_as_the_paper_spells_them_in_the_papers_order():
    authors = ["Cédric Demonceaux", "Ana Pérez", "J. Núñez-García", "Torsten Schön"]
    followed = ["Schon, Torsten", "Cedric Demonceaux", "Nunez Garcia, J.", "Ruoxi Zhao", ""]
    assert followed_names(authors, followed) == {
        "Cédric Demonceaux": "Cedric Demonceaux", "J. Núñez-García": "Nunez Garcia, J.",
        "Torsten Schön": "Schon, Torsten"}
    assert followed_names(["Ruoxi Zhao"], ["Zhuokai Zhao"]) == {}


def test_it_tells_chinese_from_other_scripts():
    assert has_han("知识蒸馏 for LLMs") and han_count("知识蒸馏 for LLMs") == 4
    assert not has_han("한국어 かな Müller")
    assert all(WIDE.search(ch) for ch in "知한かＡ。") and not WIDE.search("Aé-")


@pytest.mark.parametrize(("dirty", "clean"), [
    ("See [the code](https://evil.example/x) now.", "See the code now."),
    ("Visit https://evil.com/a?b=1 or www.evil.com today", "Visit  or  today"),
    ("Mail mailto:x@y.org, run javascript:alert(1)", "Mail  run "),
    ("Open data:text/html,<b>x</b> but keep our data: 5 sets", "Open  but keep our data: 5 sets"),
    ("Go to evil.com/path or arxiv.org", "Go to  or "),
    ("Citations [1] and [2, 3] stay", "Citations [1] and [2, 3] stay"),
])
def test_it_strips_links_and_web_addresses_but_keeps_the_words(dirty, clean):
    assert strip_links(dirty) == clean


def test_it_strips_real_tags_but_not_a_less_than_sign():
    assert strip_tags("LaCl<sub>3</sub> <i>cis-</i> <b>x</b>") == "LaCl3 cis- x"
    assert strip_tags("p < 0.05 for all n > 3, and $<$2% error") == \
        "p < 0.05 for all n > 3, and $<$2% error"
