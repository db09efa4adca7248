"""The pure ranking engine: matching, scoring, reasons, diversity, and quality on the eval set."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from newsletter.core.text import author_key
from newsletter.locale.reasons import reason_text
from newsletter.ranking import rank
from newsletter.ranking.index import Corpus, Doc
from newsletter.ranking.rank import Profile
from newsletter.ranking.reasons import (
    PaperRef,
    Reason,
    followed_author,
    interests_matched,
    reasons,
    reasons_from_json,
    reasons_to_json,
)

ROOT = Path(__file__).resolve().parents[1]


def doc(title: str, abstract: str = "", **fields) -> Doc:
    fields.setdefault("categories", ["cs.CL"])
    return Doc(title=title, abstract=abstract, **fields)


def titles(docs: list[Doc], profile: Profile, *, limit: int = 10) -> list[str]:
    corpus = Corpus(docs)
    return [docs[i].title for i, _, _ in rank.rank(corpus, [profile], limit=limit).for_profile(0)]


def explain(corpus: Corpus, profile: Profile, index: int) -> tuple[str, list[str], str | None]:
    """What a card says, in English: (words, interests matched, followed author)."""
    found = reasons(corpus, profile, index)
    return reason_text(found, "en"), interests_matched(found), followed_author(found)


FILLER = [doc(f"Unrelated study number {i} of protein folding kinetics",
              "We measure folding rates in vitro.", categories=["q-bio.BM"]) for i in range(8)]


def test_it_finds_distillation_when_asked_for_distill_whatever_the_case():
    docs = [doc("Knowledge DISTILLATION for small models"), doc("Distilled students"),
            doc("Tokenizers for Finnish")] + FILLER
    assert sorted(titles(docs, Profile(keywords=["Distill"]))) == [
        "Distilled students", "Knowledge DISTILLATION for small models"]


def test_it_ranks_a_phrase_match_above_the_same_words_apart():
    docs = [doc("Off-policy distillation of reasoning models", "On the data we train."),
            doc("On-policy distillation of reasoning models")] + FILLER
    assert titles(docs, Profile(keywords=["on-policy distillation"]))[0] == \
        "On-policy distillation of reasoning models"


def test_it_never_scatters_a_hyphenated_term():
    docs = [doc("Hate speech detection in social media text"),
            doc("Zero-shot text-to-speech with codec models")] + FILLER
    assert titles(docs, Profile(keywords=["text-to-speech"])) == [
        "Zero-shot text-to-speech with codec models"]


def test_it_ranks_a_title_match_above_an_abstract_match():
    docs = [doc("Efficient inference", "We apply graph neural networks to routing problems."),
            doc("Graph neural networks for routing", "We study routing problems.")] + FILLER
    assert titles(docs, Profile(keywords=["graph neural networks"]))[0] == \
        "Graph neural networks for routing"


def test_it_matches_topics_typed_in_chinese_and_says_how():
    docs = [doc("A theory of knowledge distillation"), doc("Tokenizers for Finnish")] + FILLER
    profile = Profile(keywords=["知识蒸馏"])
    corpus = Corpus(docs)
    picks = rank.rank(corpus, [profile]).for_profile(0)
    assert [i for i, _, _ in picks] == [0]
    reason, matched, _ = explain(corpus, profile, 0)
    assert reason == "matches '知识蒸馏' (knowledge distillation) in the title"
    assert matched == ["知识蒸馏"]


def test_it_matches_chinese_text_by_character_bigrams():
    docs = [doc("基于知识蒸馏的小模型训练方法"), doc("Tokenizers for Finnish")] + FILLER
    assert titles(docs, Profile(keywords=["知识蒸馏"])) == ["基于知识蒸馏的小模型训练方法"]


def test_it_matches_primary_categories_above_cross_lists_and_archives_as_a_whole():
    docs = [doc("Cross-listed paper", categories=["cs.LG", "cs.CL"], primary_category="cs.LG"),
            doc("Primary paper", categories=["cs.CL"], primary_category="cs.CL"),
            doc("Vision paper", categories=["cs.CV"], primary_category="cs.CV")] + FILLER
    assert titles(docs, Profile(categories=["cs.CL"])) == ["Primary paper", "Cross-listed paper"]
    assert set(titles(docs, Profile(categories=["cs"]))) == {
        "Cross-listed paper", "Primary paper", "Vision paper"}


@pytest.mark.parametrize("written, typed", [
    ("Jörg Müller", "Jorg Muller"),
    ('J{\\"o}rg M{\\"u}ller', "jörg müller"),
    ('J\\"org M\\"uller', "Müller, Jörg"),
    ("Petar Veli\\v{c}kovi\\'c", "Veličković, Petar"),
    ("Jos\\'e Garc\\'{\\i}a", "José García"),
    ("ZHUOKAI ZHAO", "Zhao, Zhuokai"),
    ("Søren Kierkegaard", "Soren Kierkegaard"),
    ("Jean-Pierre Serre", "Jean Pierre Serre"),
    ("Zhang A.", "A. Zhang"),  # the harvest's form of bioRxiv's "Zhang, A."
    ("O'Connell R. J.", "R. J. O'Connell"),
    ("Dallery J.-F.", "Dallery, J.-F."),
])
def test_it_matches_an_author_whatever_the_spelling(written, typed):
    assert author_key(written) == author_key(typed)


def test_it_does_not_match_a_different_person_with_the_same_surname():
    assert author_key("Ruoxi Zhao") != author_key("Zhuokai Zhao")
    assert author_key("Evans Jr.") != author_key("Jr. Evans")  # a suffix is not an initial


def test_it_puts_followed_authors_first_even_without_a_topic_match():
    docs = [doc("Graph neural networks for everything"),
            doc("Tokenizers for Finnish", authors=["Zhuokai Zhao", "A. Person"])] + FILLER
    profile = Profile(keywords=["graph neural networks"], authors=["Zhao, Zhuokai"])
    corpus = Corpus(docs)
    picks = rank.rank(corpus, [profile]).for_profile(0)
    assert [(i, followed) for i, _, followed in picks] == [(1, True), (0, False)]
    reason, _, followed = explain(corpus, profile, 1)
    assert (reason, followed) == ("by Zhuokai Zhao", "Zhuokai Zhao")  # as the paper spells it


def test_it_drops_papers_with_excluded_words_but_not_followed_authors():
    docs = [doc("A survey of graph neural networks"),
            doc("Graph neural networks at scale"),
            doc("A survey by a friend", "graph neural networks", authors=["Ada Lovelace"])] + FILLER
    profile = Profile(keywords=["graph neural networks"], excludes=["Survey"],
                      authors=["Ada Lovelace"])
    assert titles(docs, profile) == ["A survey by a friend", "Graph neural networks at scale"]


def test_it_excludes_a_phrase_only_as_a_phrase():
    docs = [doc("Driving autonomous agents with reinforcement learning"),
            doc("Reinforcement learning for autonomous driving")] + FILLER
    profile = Profile(keywords=["reinforcement learning"], excludes=["autonomous driving"])
    assert titles(docs, profile) == ["Driving autonomous agents with reinforcement learning"]


def test_it_moves_papers_like_more_feedback_up_and_less_feedback_down():
    docs = [doc("Graph neural networks for molecules"), doc("Graph neural networks for traffic")]
    base = titles(docs, Profile(keywords=["graph neural networks"]))
    assert set(base) == {d.title for d in docs}
    more = rank.feedback_weights([("Traffic forecasting on road sensors", "more")])
    assert titles(docs, Profile(keywords=["graph neural networks"], term_weights=more))[0] == \
        "Graph neural networks for traffic"
    less = rank.feedback_weights([("Molecules and materials", "less")])
    assert titles(docs, Profile(keywords=["graph neural networks"], term_weights=less))[-1] == \
        "Graph neural networks for molecules"


def test_it_breaks_ties_with_the_newer_paper():
    docs = [doc("Graph neural networks", timestamp=100.0), doc("Graph neural networks",
                                                               timestamp=200.0)]
    corpus = Corpus(docs)
    picks = rank.rank(corpus, [Profile(keywords=["graph neural networks"])]).for_profile(0)
    assert [i for i, _, _ in picks] == [1, 0]


def test_it_keeps_one_subtopic_from_taking_the_whole_email():
    gnn = [doc(f"Graph neural networks, part {i}", "graph neural networks graph neural networks")
           for i in range(6)]
    speech = [doc(f"Speech recognition study {i}") for i in range(3)]
    profile = Profile(keywords=["graph neural networks", "speech recognition"])
    top = titles(gnn + speech, profile, limit=4)
    assert sum(t.startswith("Speech") for t in top) >= 2


def test_it_returns_fewer_papers_rather_than_padding_with_unrelated_ones():
    docs = [doc("Graph neural networks at scale"), doc("Graph coloring heuristics"),
            doc("Neural networks for speech")] + FILLER
    assert titles(docs, Profile(keywords=["graph neural networks"])) == [
        "Graph neural networks at scale"]


def test_it_skips_blocked_papers_and_other_sources():
    docs = [doc("Graph neural networks one", source="arxiv"),
            doc("Graph neural networks two", source="biorxiv"),
            doc("Graph neural networks three", source="arxiv")]
    assert titles(docs, Profile(keywords=["graph neural networks"], blocked=frozenset({0}),
                                sources=["arXiv"])) == ["Graph neural networks three"]


def test_it_ranks_many_profiles_at_once_exactly_as_one_at_a_time():
    docs = [doc(f"{topic} paper {i}", f"about {topic}", authors=[f"Author {i}"],
                categories=[cat], timestamp=float(i))
            for i, (topic, cat) in enumerate([("graph neural networks", "cs.LG"),
                                              ("speech recognition", "eess.AS"),
                                              ("dark matter", "astro-ph.CO")] * 7)]
    profiles = [Profile(keywords=["graph neural networks"]), Profile(categories=["eess.AS"]),
                Profile(keywords=["dark matter", "speech recognition"], excludes=["paper 5"]),
                Profile(authors=["Author 4"], keywords=["dark matter"]), Profile()] * 3
    corpus = Corpus(docs)
    together = rank.rank(corpus, profiles, limit=5, chunk=4)
    for row, profile in enumerate(profiles):
        alone = rank.rank(corpus, [profile], limit=5).for_profile(0)
        assert together.for_profile(row) == alone


def test_it_copes_with_no_papers_and_no_interests():
    assert rank.rank(Corpus([]), [Profile(keywords=["graph"])]).for_profile(0) == []
    assert rank.rank(Corpus([doc("Graph neural networks")]), [Profile()]).for_profile(0) == []


def test_it_explains_every_pick_in_human_words():
    docs = [doc("On-policy distillation", "We distill.", categories=["cs.CL"],
                authors=["Zhuokai Zhao"])]
    profile = Profile(keywords=["on-policy distillation"], categories=["cs.CL"],
                      authors=["Zhuokai Zhao"])
    reason, matched, followed = explain(Corpus(docs), profile, 0)
    assert reason == "by Zhuokai Zhao; matches 'on-policy distillation' in the title; cs.CL"
    assert matched == ["Zhuokai Zhao", "on-policy distillation", "cs.CL"]
    assert followed == "Zhuokai Zhao"


def _quality():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_has_an_evaluation_set_of_real_feeds_and_hand_labels():
    quality = _quality()
    ids, _ = quality.load_papers()
    profiles, labels = quality.load_profiles()
    assert len(ids) == len(set(ids)) >= 300
    assert len(profiles) == 10 and set(labels) == {p["name"] for p in profiles}
    assert all(labels[p["name"]] <= set(ids) for p in profiles)


def test_it_ranks_the_evaluation_set_well_and_never_misses_a_followed_author():
    rows = _quality().evaluate()
    followed = [r for r in rows if r["followed_recall"] is not None]
    assert followed and all(r["followed_recall"] == 1.0 for r in followed)
    assert sum(r["p_at_10"] for r in rows) / len(rows) >= 0.85
    assert sum(r["recall"] for r in rows) / len(rows) >= 0.85


def test_it_gives_reasons_as_data_that_read_in_english_and_chinese():
    docs = [doc("Graph networks", "We study 知识蒸馏 with language models in detail.",
                categories=["cs.LG", "cs.CL"], authors=["Zhuokai Zhao"])]
    profile = Profile(keywords=["language models", "知识蒸馏", "networks graph theory"],
                      categories=["cs"], authors=["Zhao, Zhuokai"])
    found = reasons(Corpus(docs), profile, 0)
    assert found == [Reason("author", "Zhao, Zhuokai", ("Zhuokai Zhao",)),
                     Reason("abstract", "language models", ("language", "models")),
                     Reason("abstract", "知识蒸馏", ("知识蒸馏",)),
                     Reason("category", "cs", ("cs.LG", "cs.CL")),
                     Reason("partial", "networks graph theory", ("networks", "graph"))]
    assert followed_author(found) == "Zhuokai Zhao"
    assert interests_matched(found) == ["Zhao, Zhuokai", "language models", "知识蒸馏", "cs",
                                        "networks graph theory"]
    assert reason_text(found, "en") == ("by Zhuokai Zhao; matches 'language models' in the "
                                        "abstract; matches '知识蒸馏' in the abstract")
    assert reason_text(found, "zh") == ("关注的作者 Zhuokai Zhao；摘要匹配“language models”；"
                                        "摘要匹配“知识蒸馏”")
    glossed = [Reason("title", "知识蒸馏", ("knowledge", "distillation"), "knowledge distillation"),
               Reason("partial", "graph theory", ("graph",)), Reason("category", "cs.CL")]
    assert reason_text(glossed, "zh") == \
        "标题匹配“知识蒸馏”（knowledge distillation）；部分匹配“graph theory”；分类 cs.CL"
    assert reason_text(glossed, "en") == ("matches '知识蒸馏' (knowledge distillation) in the "
                                          "title; partly matches 'graph theory'; cs.CL")


def test_it_stores_reasons_as_json_and_reads_back_what_it_can():
    found = [Reason("author", "Schon, Torsten", ("Torsten Schön",)),
             Reason("title", "知识蒸馏", ("knowledge", "distillation"), "knowledge distillation"),
             Reason("similar", paper=PaperRef("Our paper", "2024", "arxiv:2401.00001")),
             Reason("recent")]
    stored = reasons_to_json(found)
    assert stored[0] == {"kind": "author", "value": "Schon, Torsten", "matched": ["Torsten Schön"]}
    assert stored[3] == {"kind": "recent"}
    assert reasons_from_json(stored) == found
    assert reason_text(stored[2:3], "en") == "close to your paper “Our paper” (2024)"
    assert reasons_from_json([{"value": "no kind"}, "junk", {"kind": "title", "matched": 3}]) == [
        Reason("title")]
    assert reasons_from_json(None) == [] and reasons_from_json("[]") == []


def test_it_words_only_the_kinds_it_knows_and_only_the_first_few():
    found = [{"kind": "a kind from a newer version", "value": "x"}, {"kind": "recent"},
             {"kind": "category", "value": "cs.CL"}, {"kind": "category", "value": "cs.LG"},
             {"kind": "feedback"}]
    assert reason_text(found, "en") == "recent paper; cs.CL; cs.LG"
    assert reason_text(found, "en", limit=10) == \
        "recent paper; cs.CL; cs.LG; like papers you asked for more of"


def test_it_names_the_source_or_says_recent_when_nothing_else_matched():
    corpus = Corpus([doc("Tokenizers", source="arxiv")])
    assert reasons(corpus, Profile(sources=["arXiv"]), 0) == [
        Reason("source", "arXiv", ("arxiv",))]
    assert reason_text([Reason("source", "arXiv")], "zh") == "来自 arXiv"
    assert explain(corpus, Profile(), 0)[0] == "recent paper"
