"""LOG_FORMAT=json: one JSON object per line, and every line emitted while a digest is worked
on names it and its subscriber; the default stays human-readable."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import pytest

from newsletter.core import config, logs
from newsletter.core.config import ConfigError
from newsletter.core.models import Digest
from newsletter.scheduling import pipeline
from tests.factories import make_subscriber
from tests.test_pipeline import feeds  # noqa: F401  (fixture: the arXiv feed on a local server)

TUESDAY_8AM = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)


@pytest.fixture
def captured(settings_env):
    """Our handler on the root logger, writing to a buffer; the root as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


def test_it_writes_one_json_object_per_line_with_the_digests_ids(captured, session, feeds,  # noqa: F811
                                                                 monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    config.get_settings.cache_clear()
    logs.configure(logging.DEBUG, handler=logging.StreamHandler(captured))
    readers = [make_subscriber(session, f"r{n}@example.org") for n in range(2)]
    logging.getLogger("newsletter.test").info("before the tick", extra={"tick": 1})

    result = pipeline.send_due(TUESDAY_8AM)

    lines = [json.loads(line) for line in captured.getvalue().splitlines()]  # each one parses
    assert len(lines) > 3
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    dt.datetime.fromisoformat(lines[0]["time"])
    assert lines[0] == {"time": lines[0]["time"], "level": "INFO", "logger": "newsletter.test",
                        "message": "before the tick", "tick": 1}  # no ids outside a digest
    owner = {d.id: d.subscriber_id for d in result.claimed}
    assert {d.subscriber_id for d in result.claimed} == {r.id for r in readers}
    inside = [line for line in lines if "digest_id" in line]
    for digest_id, subscriber_id in owner.items():  # the sent line of each, with both ids
        sent = [line for line in inside if line["message"].startswith(f"digest {digest_id} sent")]
        assert sent and all(line["subscriber_id"] == subscriber_id for line in sent)
    for line in inside:  # whatever module logs inside a digest's work carries its owner
        assert line["subscriber_id"] == owner[line["digest_id"]]
    assert {line["logger"] for line in inside} > {"newsletter.delivery.state"}


def test_it_names_the_digest_in_text_lines_too(captured, session):
    logs.configure(logging.INFO, handler=logging.StreamHandler(captured))
    log = logging.getLogger("newsletter.test")
    with logs.digest_scope(7, 3):
        log.info("working")
        with logs.digest_scope(8):
            log.info("nested")
        log.info("back")
    log.info("outside")
    lines = captured.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "working [digest=7 subscriber=3]", "nested [digest=8]",
        "back [digest=7 subscriber=3]", "outside"]
    assert " INFO newsletter.test: " in lines[0]
    with pytest.raises(ValueError):
        json.loads(lines[0])  # human-readable by default


def test_it_names_a_failing_digest_in_the_tick_error(captured, session, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    config.get_settings.cache_clear()
    logs.configure(logging.INFO, handler=logging.StreamHandler(captured))
    subscriber = make_subscriber(session)
    monkeypatch.setattr(pipeline, "prepare", lambda *a, **k: 1 / 0)
    result = pipeline.send_due(TUESDAY_8AM)
    [digest_id] = result.errors
    [line] = [json.loads(line) for line in captured.getvalue().splitlines()
              if "failed" in line]
    assert line["digest_id"] == digest_id and line["subscriber_id"] == subscriber.id
    assert line["level"] == "ERROR" and "ZeroDivisionError" in line["exc_info"]
    assert session.get(Digest, digest_id) is not None


def test_it_refuses_an_unknown_log_format(settings_env, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    config.get_settings.cache_clear()
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        config.get_settings()


def test_it_sends_the_web_servers_own_lines_through_the_json_handler(captured, monkeypatch):
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "handlers", [logging.StreamHandler(io.StringIO())])
    monkeypatch.setattr(access, "propagate", False)  # as uvicorn configures it
    logs.configure(logging.INFO, fmt="json", handler=logging.StreamHandler(captured))
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/healthz", "1.1", 200,
                extra={"color_message": "\x1b[1mGET\x1b[0m"})
    [line] = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert line["logger"] == "uvicorn.access" and "color_message" not in line
    assert line["message"] == '127.0.0.1:5 - "GET /healthz HTTP/1.1" 200'


TOKEN = "eyJ1IjoiYWJjZGVmZ2hpamtsbW5vcCIsInYiOjB9.Z0Z0Zw.q8Vh1x3Yc2V0aGluZy1zaWduZWQ"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_it_never_writes_an_email_address_or_a_signed_link(captured, fmt):
    """A backend's refusal quotes the recipient; a request line carries the link's token:
    neither reaches a log shipper."""
    logs.configure(logging.INFO, fmt=fmt, handler=logging.StreamHandler(captured))
    log = logging.getLogger("newsletter.test")
    log.warning("digest %s failed: %s", 7, "550 5.1.1 <reader.one+tag@example.org>: unknown")
    log.info("GET /preferences/%s and /feed/%s?lang=zh", TOKEN, TOKEN)
    log.info("first line\nsecond@example.net \\third@example.net", extra={"to": ["x@example.com"]})
    try:
        raise RuntimeError("SMTPRecipientsRefused {'someone@mail.example.com': (550, b'no')}")
    except RuntimeError:
        log.exception("delivering failed")
    written = captured.getvalue()
    if fmt == "json":
        assert [json.loads(line)["level"] for line in written.splitlines()] == [
            "WARNING", "INFO", "INFO", "ERROR"]  # redacted lines are still JSON
    assert "second@" not in written and "third@" not in written and "x@" not in written
    assert "reader.one" not in written and "someone@" not in written and TOKEN not in written
    assert "***@example.org" in written and "/preferences/…" in written
    assert "/feed/…?lang=zh" in written


def test_it_keeps_signed_links_out_of_the_servers_own_access_lines():
    """uvicorn's access logger keeps its own handler in text mode: the filter sits on it."""
    access = logging.getLogger("uvicorn.access")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    access.addHandler(handler)
    try:
        logs.guard_access_log()
        access.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/s/{TOKEN}", "1.1", 200)
    finally:
        access.removeHandler(handler)
    assert buffer.getvalue() == '127.0.0.1:5 - "GET /s/… HTTP/1.1" 200\n'


def test_the_web_names_a_failing_page_without_its_token(settings_env, session, caplog,
                                                         monkeypatch):
    """In text mode the web's own lines reach no handler of ours: the message is clean."""
    from fastapi.testclient import TestClient

    from newsletter.core import links
    from newsletter.subscribers import archive
    from newsletter.web.app import create_app

    reader = make_subscriber(session)
    token = links.make_token("archive", reader.public_id, reader.token_version)
    monkeypatch.setattr(archive, "digests", lambda *a, **k: 1 / 0)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        assert client.get(f"/a/{token}").status_code == 500
    [line] = [r.getMessage() for r in caplog.records if r.name == "newsletter.web.app"]
    assert line == "unhandled error on GET /a/…" and token not in caplog.text


@pytest.mark.timeout(30)
def test_redacting_a_huge_line_takes_one_pass():
    """An exception can quote a whole response body: the address pattern starts only where
    a word starts, or a long run of word characters was tried from each of its positions
    (quadratic: minutes for a 300 KB line, the logging thread stalled)."""
    blob = "a" * 300_000
    assert logs.redact(f"{blob} to reader@example.org {blob}") == (
        f"{blob} to ***@example.org {blob}")
