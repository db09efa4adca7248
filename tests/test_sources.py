"""The journal catalogue: what ships, what is on out of the box, and the operator's switches."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core import config
from newsletter.core.models import Source
from newsletter.harvest.harvester import harvest
from newsletter.harvest.sources import (
    DEFAULT_SOURCES,
    PREPRINTS,
    CatalogueError,
    ensure_sources,
    journal_catalogue,
    parse_catalogue,
)
from tests.test_harvest import FEEDS, Route, server  # noqa: F401  (the feed server fixture)

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_it_ships_at_least_40_journal_feeds_in_at_least_6_fields_and_10_on_by_default():
    journals = journal_catalogue()
    assert len(journals) >= 40
    assert len({j.field for j in journals}) >= 6
    assert sum(j.enabled for j in journals) >= 10
    assert {"nature", "science", "cell", "pnas", "nejm", "lancet", "jama", "jacs", "prl"} <= {
        j.name for j in journals if j.enabled}


def test_it_gives_every_journal_a_unique_name_a_label_and_a_publisher_https_url():
    journals = journal_catalogue()
    assert len({j.name for j in journals}) == len(journals)
    assert len({j.url for j in journals}) == len(journals)
    for journal in journals:
        assert journal.kind == "rss" and journal.label and journal.field != PREPRINTS
        assert urlsplit(journal.url).scheme == "https", journal.name
        assert len(journal.name) <= 64 and len(journal.label) <= 100


def test_it_uses_the_publishers_real_feed_addresses():
    urls = {j.name: j.url for j in journal_catalogue()}
    assert urls["nature"] == "https://www.nature.com/nature.rss"
    assert urls["science"] == (
        "https://www.science.org/action/showFeed?type=etoc&feed=rss&jc=science")
    assert urls["pnas"] == "https://www.pnas.org/action/showFeed?type=etoc&feed=rss&jc=PNAS"
    assert urls["nejm"] == "https://www.nejm.org/action/showFeed?jc=nejm&type=etoc&feed=rss"
    assert urls["lancet"] == "https://www.thelancet.com/rssfeed/lancet_current.xml"
    assert urls["jama"] == "https://jamanetwork.com/rss/site_3/67.xml"
    assert urls["elife"] == "https://elifesciences.org/rss/recent.xml"
    assert urls["plos-biology"] == "https://journals.plos.org/plosbiology/feed/atom"
    assert urls["angewandte"] == "https://onlinelibrary.wiley.com/feed/15213773/most-recent"
    assert urls["prl"] == "https://feeds.aps.org/rss/recent/prl.xml"
    assert urls["jacs"].startswith("https://pubs.acs.org/action/showFeed?type=axatoc")


def test_it_keeps_the_preprint_servers_alongside_the_journals():
    preprints = {s.name for s in DEFAULT_SOURCES if s.field == PREPRINTS and s.enabled}
    assert {"arxiv-cs.CL", "biorxiv", "medrxiv"} <= preprints


@pytest.mark.parametrize(("text", "message"), [
    ('[[journal]]\nname = "x"\nlabel = "X"\nfield = "physics"\n', "missing url"),
    ('[[journal]]\nname = "x"\nlabel = "X"\nfield = "f"\nurl = "https://x"\nkind = "pdf"\n',
     "unknown kind"),
    ('[[journal]]\nname = "x"\nlabel = "X"\nfield = "f"\nurl = "https://x"\n' * 2,
     "listed twice"),
])
def test_it_refuses_a_malformed_catalogue_naming_the_entry(text, message):
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(text)


def test_it_lists_every_source_as_json_lines_with_the_catalogue_fields():
    result = run("sources", "--json")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(row) == {"name", "label", "field", "kind", "url", "enabled"} for row in rows)
    journals = [row for row in rows if row["field"] != PREPRINTS]
    assert len(journals) >= 40 and len({row["field"] for row in journals}) >= 6
    assert sum(row["enabled"] for row in journals) >= 10
    nature = next(row for row in rows if row["name"] == "nature")
    assert nature == {"name": "nature", "label": "Nature", "field": "multidisciplinary",
                      "kind": "rss", "url": "https://www.nature.com/nature.rss", "enabled": True}


def test_it_lists_sources_as_a_table_for_people():
    result = runner.invoke(app, ["sources"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "nature" in result.stdout and "multidisciplinary" in result.stdout


def test_an_operator_enables_and_disables_a_source_and_the_choice_is_listed(session):
    assert run("sources", "disable", "nature").exit_code == 0
    assert run("sources", "enable", "prb").exit_code == 0
    rows = {json.loads(line)["name"]: json.loads(line)
            for line in run("sources", "--json").stdout.splitlines()}
    assert rows["nature"]["enabled"] is False and rows["prb"]["enabled"] is True
    ensure_sources(session)  # an upgrade re-seeds: the operator's choice stays
    session.expire_all()
    assert session.exec(select(Source).where(Source.name == "nature")).one().enabled is False


def test_it_refuses_to_switch_an_unknown_source_and_changes_nothing(session):
    result = run("sources", "enable", "no-such-journal")
    assert result.exit_code == 2
    assert "no source named 'no-such-journal'" in result.stderr
    assert session.exec(select(Source).where(Source.name == "no-such-journal")).first() is None


def test_it_fetches_each_enabled_journal_once_per_window_with_conditional_get(
        session, server):  # noqa: F811
    journals = [j for j in journal_catalogue() if j.enabled]
    for journal in journals:
        parts = urlsplit(journal.url)
        server.routes[parts.path + (f"?{parts.query}" if parts.query else "")] = Route(
            b"<rss version='2.0'><channel><title>t</title></channel></rss>", etag='"v1"')
    names = [j.name for j in journals]
    first = harvest(session, names)
    assert {r.status for r in first} == {"ok"}
    again = harvest(session, names)  # a second subscriber's digest within the window
    assert {r.status for r in again} == {"fresh"}
    assert len(server.requests) == len(journals)
    forced = harvest(session, names, force=True)  # past the window: conditional GET, 304
    assert {r.status for r in forced} == {"not-modified"}
    assert all(headers.get("If-None-Match") == '"v1"'
               for _, headers, _ in server.requests[len(journals):])


# -- the admin page ------------------------------------------------------------------------------

@pytest.fixture
def admin(monkeypatch, settings_env):
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret")
    config.get_settings.cache_clear()
    from newsletter.web.app import create_app

    return TestClient(create_app(), follow_redirects=False)


def test_the_admin_page_shows_each_sources_health_behind_the_token(
        admin, session, server):  # noqa: F811
    server.routes["/nature.rss"] = Route((FEEDS / "nature_week.rdf.xml").read_bytes())
    server.routes["/cell/current.rss"] = Route(b"<html><title>Just a moment</title></html>",
                                               content_type="text/html")
    harvest(session, ["nature", "cell"])
    assert admin.get("/admin/sources").status_code == 401  # the sign-in form
    assert admin.get("/admin/sources?token=admin-secret").status_code == 401  # never the URL
    rows = {r["name"]: r for r in admin.get(
        "/admin/sources?format=json", headers={"X-Admin-Token": "admin-secret"}).json()}
    assert len(rows) >= 40
    nature, cell = rows["nature"], rows["cell"]
    assert nature["last_status"] == "ok" and nature["last_count"] == 6
    assert nature["papers_per_day"] == round(6 / 7, 1) and nature["last_fetch"]
    assert cell["last_status"] == "error" and "HTML page" in cell["last_error"]
    html = admin.get("/admin/sources", headers={"X-Admin-Token": "admin-secret"}).text
    assert "Just a moment" in html and "<title>Just" not in html  # the error, escaped


def test_an_operator_switches_a_source_on_the_admin_page(admin, session):
    signed = {"X-Admin-Token": "admin-secret"}
    answer = admin.post("/admin/sources/prb", data={"enabled": "yes"}, headers=signed)
    assert answer.status_code == 303
    assert session.exec(select(Source).where(Source.name == "prb")).one().enabled is True
    assert admin.post("/admin/sources/nope", data={"enabled": "yes"},
                      headers=signed).status_code == 404
    assert admin.post("/admin/sources/prb", data={"enabled": "no"},
                      headers={"X-Admin-Token": "wrong"}).status_code == 403
    assert admin.post("/admin/sources/prb?token=admin-secret",
                      data={"enabled": "no"}).status_code == 401
    session.expire_all()
    assert session.exec(select(Source).where(Source.name == "prb")).one().enabled is True


def test_a_signed_in_operator_switches_a_source_with_the_pages_own_form(admin, session):
    from bs4 import BeautifulSoup

    ensure_sources(session)
    login = BeautifulSoup(admin.get("/admin").text, "html.parser")
    admin.post("/admin/login", data={"token": "admin-secret", "csrf_token": login.find(
        "input", {"name": "csrf_token"})["value"]})
    page = BeautifulSoup(admin.get("/admin/sources").text, "html.parser")
    form = page.find("form", action="/admin/sources/prb")
    fields = {i["name"]: i["value"] for i in form.find_all("input")}
    assert admin.post("/admin/sources/prb", data=fields | {"csrf_token": "x"}).status_code == 403
    assert admin.post("/admin/sources/prb", data=fields).status_code == 303
    session.expire_all()
    assert session.exec(select(Source).where(Source.name == "prb")).one().enabled is True
