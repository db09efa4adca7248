"""Journals chosen by the subscriber: on the landing and preferences pages, the API and the CLI."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core.models import Interest, Subscriber
from newsletter.harvest.sources import journal_catalogue, sources_for
from newsletter.subscribers import lifecycle
from newsletter.subscribers.validation import InvalidInput
from newsletter.web.app import create_app
from tests.factories import make_subscriber
from tests.test_web import form, prefs_form, token

runner = CliRunner()


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


def chosen(session, email="ada@example.org") -> tuple[Subscriber, list[str]]:
    session.expire_all()
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
    values = session.exec(select(Interest.value).where(
        Interest.subscriber_id == subscriber.id, Interest.kind == "source")).all()
    return subscriber, sorted(values)


def test_the_cli_subscribes_to_journals_by_name_or_label_with_news_on_request(session):
    result = runner.invoke(app, ["subscribe", "ada@example.org", "--source", "nature",
                                 "--source", "Science Advances", "--news", "--confirmed"])
    assert result.exit_code == 0, result.output
    subscriber, sources = chosen(session)
    assert sources == ["nature", "science-advances"] and subscriber.include_news is True


def test_the_cli_refuses_an_unknown_journal_and_stores_nothing(session):
    result = runner.invoke(app, ["subscribe", "ada@example.org", "--source", "Natur",
                                 "--confirmed"])
    assert result.exit_code == 2
    assert "“Natur” is not a journal or preprint server we carry." in result.stderr
    assert session.exec(select(Subscriber)).all() == []


def test_a_subscriber_of_journals_alone_needs_only_those_feeds(session):
    subscriber = lifecycle.subscribe(session, "ada@example.org", sources=["Nature", "jama"],
                                     confirmed=True)
    interests = session.exec(select(Interest).where(Interest.subscriber_id == subscriber.id)).all()
    assert sources_for(interests) == ["jama", "nature"]
    assert subscriber.include_news is False  # the default: research only


def test_the_landing_page_offers_journals_as_a_chip_kind_with_the_catalogue_to_search(client):
    soup = BeautifulSoup(client.get("/").text, "html.parser")
    kinds = [o["value"] for o in soup.select("select.chip-kind option")]
    assert kinds == ["keywords", "categories", "authors", "sources"]
    options = soup.select("datalist#journal-list option")
    assert len(options) == len(journal_catalogue())
    nature = next(o for o in options if o["value"] == "Nature")
    assert nature.text == "Nature · Multidisciplinary"  # the search matches name and field
    assert soup.find("textarea", {"name": "sources"}) is not None  # works without JavaScript
    assert soup.find("input", {"name": "include_news"})["type"] == "checkbox"


def test_the_catalogue_search_speaks_the_readers_language(client):
    soup = BeautifulSoup(client.get("/?lang=zh").text, "html.parser")
    jacs = next(o for o in soup.select("datalist#journal-list option")
                if o["value"] == "J. Am. Chem. Soc.")
    assert jacs.text == "J. Am. Chem. Soc. · 化学"


@pytest.mark.parametrize("lang, journal, author, examples", [
    ("en", "Journal: {value}", "Author: {value}",
     ["e.g. knowledge distillation", "e.g. cs.CL", "e.g. Yoshua Bengio", "e.g. Nature"]),
    ("zh", "期刊：{value}", "作者：{value}",
     ["例如：知识蒸馏", "例如：cs.CL", "例如：Yoshua Bengio", "例如：Nature"])])
def test_each_chip_kind_has_its_own_label_and_example_in_the_readers_language(
        client, lang, journal, author, examples):
    """The chip reads 期刊：Nature in Chinese (the whole label is the catalog's, punctuation
    too), and choosing "Journal" suggests a journal, not a keyword."""
    soup = BeautifulSoup(client.get(f"/?lang={lang}").text, "html.parser")
    chips = soup.select_one("ul.chip-list")
    assert (chips["data-label-sources"], chips["data-label-authors"]) == (journal, author)
    assert [o["data-placeholder"] for o in soup.select("select.chip-kind option")] == examples


def test_the_subscribe_form_takes_journals_alone(client, session):
    response = client.post("/subscribe", data=form(client, sources="Nature\nThe Lancet"))
    assert response.status_code == 200
    subscriber, sources = chosen(session)
    assert sources == ["lancet", "nature"] and subscriber.include_news is False


def test_the_subscribe_form_shows_an_unknown_journal_inline_and_stores_nothing(client, session):
    response = client.post("/subscribe", data=form(client, sources="Journal of Nothing"))
    assert response.status_code == 422
    assert "“Journal of Nothing” is not a journal or preprint server we carry." in response.text
    assert session.exec(select(Subscriber)).all() == []


def test_preferences_show_journals_by_label_and_save_the_news_choice(client, session):
    subscriber = make_subscriber(session, keywords=())
    lifecycle.update_preferences(session, subscriber, sources=["nature-communications"])
    path = f"/preferences/{token('preferences', subscriber)}"
    soup = BeautifulSoup(client.get(path).text, "html.parser")
    assert soup.find("textarea", {"name": "sources"}).text == "Nature Communications"
    assert not soup.find("input", {"name": "include_news"}).has_attr("checked")

    saved = client.post(path, data=prefs_form(client, path, sources="Nature Communications\nCell",
                                               include_news="yes"))
    assert saved.status_code == 200
    subscriber, sources = chosen(session)
    assert sources == ["cell", "nature-communications"] and subscriber.include_news is True
    soup = BeautifulSoup(saved.text, "html.parser")
    assert soup.find("input", {"name": "include_news"}).has_attr("checked")

    client.post(path, data=prefs_form(client, path, sources="Cell"))  # the box left unticked
    subscriber, sources = chosen(session)
    assert sources == ["cell"] and subscriber.include_news is False


def test_the_api_takes_and_returns_journals_and_the_news_choice(client, session):
    response = client.post("/api/subscribe", json={"email": "ada@example.org",
                                                   "sources": ["nature"], "include_news": True})
    assert response.status_code == 202
    subscriber, sources = chosen(session)
    assert sources == ["nature"] and subscriber.include_news is True
    answer = client.get(f"/api/preferences/{token('preferences', subscriber)}").json()
    assert answer["sources"] == ["nature"] and answer["include_news"] is True
    bad = client.post("/api/subscribe", json={"email": "bob@example.org", "sources": ["nope"]})
    assert bad.status_code == 422


def test_it_refuses_a_news_choice_that_is_not_yes_or_no(session):
    with pytest.raises(InvalidInput) as raised:
        lifecycle.subscribe(session, "ada@example.org", include_news="perhaps")
    assert raised.value.key == "news_invalid"
