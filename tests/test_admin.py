"""The operator's page: a token in a header or a sign-in form that sets a signed HttpOnly,
SameSite=Strict cookie; never a token in the URL; wrong guesses limited; Jinja-rendered."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from newsletter.core import config
from tests.test_web import csrf

TOKEN = "admin-token-for-the-tests-0123456789"


@pytest.fixture
def client(monkeypatch, settings_env):
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    config.get_settings.cache_clear()
    from newsletter.web.app import create_app

    return TestClient(create_app(), follow_redirects=False)


def sign_in(client, token: str = TOKEN):
    return client.post("/admin/login", data={"csrf_token": csrf(client, "/admin"),
                                             "token": token})


def test_it_signs_in_with_a_form_and_a_strict_httponly_cookie(client):
    page = client.get("/admin")
    assert page.status_code == 401
    assert BeautifulSoup(page.text, "html.parser").find("input", {"name": "token",
                                                                 "type": "password"})
    answer = sign_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    cookie = answer.headers["set-cookie"]
    assert "ah_admin=" in cookie and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    page = client.get("/admin")
    assert page.status_code == 200 and "<svg" in page.text
    assert page.headers["cache-control"] == "no-store"
    out = client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin")})
    assert out.status_code == 303 and client.get("/admin").status_code == 401


def test_it_never_takes_the_token_from_the_url(client):
    assert client.get(f"/admin?token={TOKEN}").status_code == 401
    assert client.get(f"/admin?format=json&token={TOKEN}").status_code == 401


def test_it_refuses_a_forged_or_stale_cookie(client, monkeypatch):
    client.cookies.set("ah_admin", "forged.value.here", path="/admin")
    assert client.get("/admin").status_code == 401
    client.cookies.clear()
    sign_in(client)
    monkeypatch.setenv("ADMIN_TOKEN", "another-admin-token-9876543210")
    config.get_settings.cache_clear()
    assert client.get("/admin").status_code == 401  # a new token signs everyone out


def test_it_locks_a_client_out_after_ten_wrong_tokens_even_with_the_right_one(client):
    wrong = [sign_in(client, f"guess-{n}").status_code for n in range(10)]
    assert wrong == [403] * 10
    assert sign_in(client).status_code == 429
    assert client.get("/admin", headers={"X-Admin-Token": TOKEN}).status_code == 429


def test_it_limits_wrong_header_tokens_too(client):
    statuses = [client.get("/admin", headers={"Authorization": f"Bearer guess-{n}"}).status_code
                for n in range(11)]
    assert statuses == [403] * 10 + [429]


def test_it_refuses_a_sign_in_without_the_forms_csrf_token(client):
    answer = client.post("/admin/login", data={"token": TOKEN})
    assert answer.status_code == 403 and "ah_admin" not in answer.headers.get("set-cookie", "")
