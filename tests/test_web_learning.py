"""The preferences page imports a library and asks for ratings; email votes can be undone."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core.models import LibraryItem, Rating
from newsletter.harvest.harvester import harvest_file, store
from newsletter.ranking import candidates
from newsletter.web.app import create_app
from tests.factories import make_subscriber
from tests.test_web import count, csrf, text_of, token

DATA = Path(__file__).parent / "data"


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def papers(session):
    for path in sorted((DATA / "eval" / "library").glob("*2026-11-24.rss.xml")):
        store(session, harvest_file(path, "arxiv_rss"))
    candidates._index = None
    return {p.id: p for p in session.exec(select(candidates.Paper))}


def page_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_it_offers_the_import_and_papers_to_rate_after_confirming(client, session, papers):
    subscriber = make_subscriber(session, keywords=())
    path = f"/preferences/{token('preferences', subscriber)}"
    page = page_of(client.get(path))
    assert page.select_one("#library-heading").get_text() == "Your papers"
    assert page.select_one("form[enctype='multipart/form-data'] input[type=file][name=file]")
    cards = page.select("#rate .card")
    assert len(cards) == 10  # no model yet: the newest papers
    assert cards[0].select_one("button[value=more]")


def test_it_imports_an_uploaded_library_and_reports_what_it_skipped(client, session, papers):
    subscriber = make_subscriber(session, keywords=())
    path = f"/preferences/{token('preferences', subscriber)}"
    bib = (DATA / "eval" / "library" / "library_exo.bib").read_bytes() + \
        (DATA / "library" / "zotero.bib").read_bytes().split(b"@misc")[0] + b"@misc{x, year={1}}"
    response = client.post(f"{path}/library", data={"csrf_token": csrf(client, path)},
                           files={"file": ("My Library.bib", bib, "application/x-bibtex")})
    assert response.status_code == 200
    text = text_of(response)
    assert "Imported 14 papers; skipped 1." in text and "x: no title, arXiv id or DOI" in text
    assert count(session, LibraryItem) == 14
    rate = page_of(response).select("#rate .card-title")
    assert rate and len(rate) == 10  # now asked by the model: the papers it is least sure of
    assert page_of(response).select_one("#preferences-form")["action"] == path


def test_it_changes_nothing_when_the_upload_is_broken(client, session, papers):
    subscriber = make_subscriber(session, keywords=())
    path = f"/preferences/{token('preferences', subscriber)}"
    response = client.post(f"{path}/library", data={"csrf_token": csrf(client, path),
                                                    "ids": "2401.00001"},
                           files={"file": ("lib.bib", b"@article{x, title = {never", "text/x")})
    assert response.status_code == 422
    assert "Nothing was imported: not valid BibTeX" in text_of(response)
    assert count(session, LibraryItem) == 0


def test_it_refuses_an_import_without_the_csrf_token(client, session, papers):
    subscriber = make_subscriber(session, keywords=())
    path = f"/preferences/{token('preferences', subscriber)}"
    client.get(path)
    response = client.post(f"{path}/library", data={"csrf_token": "forged", "ids": "2401.1"})
    assert response.status_code == 403 and count(session, LibraryItem) == 0


def test_it_records_a_rating_from_the_page_and_undoes_it(client, session, papers):
    subscriber = make_subscriber(session, keywords=())
    path = f"/preferences/{token('preferences', subscriber)}"
    paper_id = page_of(client.get(path)).select_one("#rate input[name=paper]")["value"]
    response = client.post(f"{path}/rate", data={"csrf_token": csrf(client, path),
                                                 "paper": paper_id, "vote": "more"})
    assert "Noted: more papers like" in text_of(response)
    assert [(r.paper_id, r.value) for r in session.exec(select(Rating))] == [(paper_id, 1)]
    assert paper_id not in {i["value"] for i in page_of(response).select("#rate input[name=paper]")}
    undo = client.post(f"{path}/rate", data={"csrf_token": csrf(client, path),
                                             "paper": paper_id, "vote": "undo"})
    assert "was removed" in text_of(undo)
    assert count(session, Rating) == 0


def test_it_undoes_a_vote_cast_from_the_email(client, session, papers):
    subscriber = make_subscriber(session, keywords=())
    paper_id = next(iter(papers))
    link = f"/f/{token('feedback', subscriber, paper=paper_id, signal='less')}"
    page = client.get(link)
    assert count(session, Rating) == 1
    form = page_of(page).select_one("form")
    assert form["action"] == link
    undone = client.post(link, data={"csrf_token": form.select_one("input")["value"]})
    assert undone.status_code == 200 and "was removed" in text_of(undone)
    assert count(session, Rating) == 0


def test_it_imports_pasted_ids_through_the_arxiv_api(client, session, papers, monkeypatch):
    from newsletter.core import config
    from tests.fake_scholarly import ScholarlyServer

    server = ScholarlyServer(arxiv={"2308.04079": {
        "title": "3D Gaussian Splatting for Real-Time Radiance Field Rendering",
        "abstract": "We introduce 3D Gaussians for real-time novel view synthesis.",
        "authors": ["Bernhard Kerbl"]}})
    monkeypatch.setenv("FEED_BASE_OVERRIDE", server.url)
    config.get_settings.cache_clear()
    try:
        subscriber = make_subscriber(session, keywords=())
        path = f"/preferences/{token('preferences', subscriber)}"
        response = client.post(f"{path}/library", data={
            "csrf_token": csrf(client, path), "ids": "2308.04079\n2401.99999"})
    finally:
        server.close()
    assert "Imported 1 paper; skipped 1." in text_of(response)
    assert "2401.99999: arXiv does not know this id" in text_of(response)
    [item] = session.exec(select(LibraryItem)).all()
    assert (item.key, item.origin) == ("arxiv:2308.04079", "ids")
