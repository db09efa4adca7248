"""Web probes that used to work: language links to another site, Latin-1 guesses at bad
UTF-8, the API docs from a CDN, and an app that started without its webhook."""

from __future__ import annotations

import importlib
import sys

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core.models import Subscriber
from newsletter.web.app import create_app
from tests.factories import make_subscriber
from tests.test_web import csrf, token


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


def lang_links(page) -> list[str]:
    return [a["href"] for a in BeautifulSoup(page.text, "html.parser").select("a.lang")]


@pytest.mark.parametrize("path", ["//evil.example.com", "//evil.example.com/x?y=1",
                                  "/%2F%2Fevil.example.com", "///evil.example.com"])
def test_it_never_builds_a_language_link_from_the_raw_path(client, path):
    page = client.get(path)
    hrefs = lang_links(page)
    assert hrefs and all(h.startswith("/?lang=") for h in hrefs), hrefs


def test_it_keeps_the_reader_on_the_same_page_when_switching_language(client, session):
    subscriber = make_subscriber(session)
    path = f"/preferences/{token('preferences', subscriber)}"
    assert lang_links(client.get(path)) == [f"{path}?lang=zh"]
    assert lang_links(client.get("/?lang=zh")) == ["/?lang=en"]


@pytest.mark.parametrize("raw", [b"raw%FF%40example.org", b"ada%40example.org&keywords=caf%E9"])
def test_it_refuses_a_urlencoded_form_that_is_not_utf8(client, session, raw):
    body = b"csrf_token=" + csrf(client).encode() + b"&email=" + raw
    answer = client.post("/subscribe", content=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert session.exec(select(Subscriber)).all() == []


def test_it_refuses_a_multipart_form_that_is_not_utf8(client, session):
    boundary = "xYzZY"
    fields = {"csrf_token": csrf(client).encode(), "email": b"raw\xff@example.org"}
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                    .encode() + v + b"\r\n" for k, v in fields.items())
    body += f"--{boundary}--\r\n".encode()
    answer = client.post("/subscribe", content=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 400
    assert session.exec(select(Subscriber)).all() == []


def test_it_still_takes_utf8_in_both_encodings(client, session):
    answer = client.post("/subscribe", data={"csrf_token": csrf(client),
                                             "email": "zoë@example.org", "keywords": "café"})
    assert answer.status_code == 200
    boundary = "xYzZY"
    fields = {"csrf_token": csrf(client), "email": "zoé@example.org"}
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                   f"{v}\r\n" for k, v in fields.items()) + f"--{boundary}--\r\n"
    answer = client.post("/subscribe", content=body.encode(), headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 200
    assert sorted(s.email for s in session.exec(select(Subscriber)).all()) == [
        "zoé@example.org", "zoë@example.org"]


def test_it_serves_the_api_docs_itself_under_the_sites_own_csp(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    soup = BeautifulSoup(page.text, "html.parser")
    sources = [s["src"] for s in soup.find_all("script")] + \
        [link["href"] for link in soup.find_all("link")]
    assert sources and all(src.startswith("/") for src in sources)  # nothing from elsewhere
    assert all(not s.string for s in soup.find_all("script"))  # and nothing inline
    for src in sources:
        assert client.get(src).status_code == 200, src
    assert client.get("/api/openapi.json").json()["info"]["title"] == "AcademicHub"


def test_it_refuses_to_start_without_a_router_that_fails_to_import(monkeypatch, settings_env):
    """A broken webhook module used to start the app without bounce suppression."""
    import newsletter.web
    import newsletter.web.app as app_module

    monkeypatch.delattr(newsletter.web, "webhooks")
    monkeypatch.setitem(sys.modules, "newsletter.web.webhooks", None)  # its import fails
    with pytest.raises(ImportError):
        importlib.reload(app_module)
    monkeypatch.undo()
    importlib.reload(app_module)
    app = app_module.create_app()
    assert [app.url_path_for(name, **params) for name, params in (
        ("sendgrid_events", {}), ("admin", {}), ("click", {"token": "t"}), ("swagger_ui", {}))
    ] == ["/webhooks/sendgrid", "/admin", "/c/t", "/api/docs"]
    unsigned = TestClient(app).post("/webhooks/sendgrid", content=b"[]")
    assert unsigned.status_code == 403  # there, and refusing what is not signed
