"""Property: whatever arrives at the JSON API (or the subscribe form), the answer is never a 500.

Hypothesis generates bodies shaped like the real ones (right keys, wild values), arbitrary
JSON, raw bytes, and tokens both forged and genuine. Rate limits answering 429 are fine.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.core import links
from newsletter.web.app import create_app
from tests.factories import make_paper, make_subscriber

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=20)
wild_text = st.text(max_size=300) | st.sampled_from([
    "x" * 10_000, "<script>alert(1)</script>", "ada@example.org\r\nBcc: eve@evil.org",
    "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "Europe/Paris", "cs.CL",
    "../../etc/passwd", "' OR 1=1 --", "\x00", "ada@example.org", "\ud800lone", "caf\udcff"])
# query strings and forms must be encodable by the client: surrogates travel only in JSON
wire_text = wild_text.filter(lambda s: not any("\ud800" <= c <= "\udfff" for c in s))
wild = wild_text | st.integers() | st.floats() | st.booleans() | st.none() | \
    st.lists(wild_text, max_size=40)
FIELDS = ("email", "keywords", "categories", "authors", "excludes", "locale", "timezone",
          "send_hour", "frequency", "weekday", "max_papers", "paused")
shaped = st.dictionaries(st.sampled_from(FIELDS), wild, max_size=len(FIELDS))
bodies = shaped | st.dictionaries(st.text(max_size=10), json_values, max_size=4) | json_values


@pytest.fixture
def world(settings_env, session):
    for n in range(8):
        make_paper(session, title=f"Paper {n} on language models")
    subscriber = make_subscriber(session, keywords=("language models",))
    tokens = {p: links.make_token(p, subscriber.id, subscriber.token_version)
              for p in ("confirm", "preferences", "unsubscribe")}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client, tokens


def no_server_error(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])


tokens_st = st.sampled_from(["confirm", "preferences", "unsubscribe"]) | wire_text.map(
    lambda s: "forged:" + s)


def path_token(tokens: dict, choice: str) -> str:
    from urllib.parse import quote

    return tokens.get(choice) or quote(choice.removeprefix("forged:"), safe="") or "x"


@FUZZ
@given(body=bodies)
def test_it_never_fails_with_a_500_on_subscribe(world, body):
    client, _ = world
    no_server_error(client.post("/api/subscribe", content=json.dumps(body),
                                headers={"Content-Type": "application/json"}))


@FUZZ
@given(raw=st.binary(max_size=400), kind=st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]))
def test_it_never_fails_with_a_500_on_raw_bytes(world, raw, kind):
    client, _ = world
    no_server_error(client.post("/api/subscribe", content=raw, headers={"Content-Type": kind}))
    no_server_error(client.post("/subscribe", content=raw, headers={"Content-Type": kind}))


@FUZZ
@given(params=st.lists(st.tuples(st.sampled_from(
    ["keywords", "categories", "authors", "excludes", "page", "per_page", "other"]), wire_text),
    max_size=8))
def test_it_never_fails_with_a_500_on_preview(world, params):
    client, _ = world
    no_server_error(client.get("/api/preview", params=params))


@FUZZ
@given(choice=tokens_st, body=bodies,
       method=st.sampled_from(["GET", "PATCH", "DELETE", "POST-unsubscribe", "GET-export",
                               "POST-confirm"]))
def test_it_never_fails_with_a_500_on_token_endpoints(world, choice, body, method):
    client, tokens = world
    token = path_token(tokens, choice)
    if method == "GET":
        response = client.get(f"/api/preferences/{token}")
    elif method == "PATCH":
        response = client.patch(f"/api/preferences/{token}", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})
    elif method == "DELETE":  # only forged tokens: keep the subscriber for other examples
        response = client.delete(f"/api/preferences/{token}x")
    elif method == "POST-unsubscribe":
        response = client.post(f"/api/unsubscribe/{token}")
    elif method == "GET-export":
        response = client.get(f"/api/export/{token}")
    else:
        response = client.post(f"/api/confirm/{token}")
    no_server_error(response)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(FIELDS + ("csrf_token", "action", "website")),
                              wire_text, max_size=8),
       choice=tokens_st)
def test_it_never_fails_with_a_500_on_the_html_forms(world, fields, choice):
    client, tokens = world
    page = client.get("/")
    fields.setdefault("csrf_token", page.text.split('name="csrf_token" value="')[1].split('"')[0])
    if fields.get("action") == "delete":  # keep the subscriber for the next examples
        del fields["action"]
    no_server_error(client.post("/subscribe", data=fields))
    token = path_token(tokens, choice)
    no_server_error(client.post(f"/preferences/{token}", data=fields))
    no_server_error(client.get(f"/u/{token}"))
    no_server_error(client.get(f"/confirm/{token}"))
