"""Rate limits that hold: behind proxies (only trusted ones may name the client), with Redis
down (per-process limits, said once, never unlimited), and per mailbox (plus-aliases and
Gmail's dots are one inbox for the limit, never for delivery)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient

from newsletter.core import config
from newsletter.subscribers import validation
from newsletter.web.app import create_app
from tests.liveserver import free_port
from tests.test_web import outbox

ROOT = Path(__file__).resolve().parents[1]


def subscribe(client, email: str, **headers: str) -> int:
    return client.post("/api/subscribe", json={"email": email, "keywords": ["graphs"]},
                       headers=headers).status_code


def with_env(monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()


# --- who the client is -------------------------------------------------------------------

def test_it_ignores_x_forwarded_for_unless_trusted_proxies_are_configured(settings_env):
    client = TestClient(create_app(), client=("198.51.100.7", 4000))
    statuses = [subscribe(client, f"u{n}@example.org", **{"X-Forwarded-For": f"10.0.{n}.1"})
                for n in range(21)]
    assert statuses[:20] == [202] * 20 and statuses[20] == 429  # one client, whatever it says


def test_it_takes_the_right_most_untrusted_hop_behind_a_trusted_proxy(monkeypatch):
    with_env(monkeypatch, TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1")
    client = TestClient(create_app(), client=("10.1.2.3", 4000))  # the load balancer
    chain = "{spoof}, 203.0.113.9, 192.0.2.1"  # the client's own claim, its address, a proxy
    statuses = [subscribe(client, f"u{n}@example.org",
                          **{"X-Forwarded-For": chain.format(spoof=f"6.6.6.{n}")})
                for n in range(21)]
    assert statuses[:20] == [202] * 20 and statuses[20] == 429  # all from 203.0.113.9
    other = subscribe(client, "v@example.org", **{"X-Forwarded-For": "203.0.113.10, 192.0.2.1"})
    assert other == 202


def test_it_ignores_x_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy(monkeypatch):
    with_env(monkeypatch, TRUSTED_PROXIES="10.0.0.1")
    client = TestClient(create_app(), client=("198.51.100.7", 4000))
    statuses = [subscribe(client, f"u{n}@example.org", **{"X-Forwarded-For": f"6.6.6.{n}"})
                for n in range(21)]
    assert statuses[20] == 429


@pytest.mark.parametrize("value", ["*", "10.0.0.0/33", "proxy.internal", "10.0.0.1, *"])
def test_it_refuses_a_trusted_proxies_setting_that_would_trust_anyone_or_nothing_known(
        monkeypatch, value):
    monkeypatch.setenv("TRUSTED_PROXIES", value)
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError, match="TRUSTED_PROXIES"):
        config.get_settings()


def procfile(name: str) -> str:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines()
                if line.startswith(f"{name}:"))
    return line.split(":", 1)[1].strip()


def test_the_procfile_web_command_lets_no_client_choose_its_address(settings_env, tmp_path):
    """The production command itself, as a checker would run it: spoofed X-Forwarded-For
    from a direct client changes nothing, so the per-IP limit holds."""
    command = procfile("web")
    assert "forwarded-allow-ips" not in command
    port = free_port()
    env = {**os.environ, "PORT": str(port),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as client:
            statuses = [subscribe(client, f"u{n}@example.org",
                                  **{"X-Forwarded-For": f"6.6.{n}.6"}) for n in range(21)]
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert statuses[:20] == [202] * 20 and statuses[20] == 429, (tmp_path / "web.log").read_text()


# --- Redis down --------------------------------------------------------------------------

def closed_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_it_limits_in_process_when_redis_is_down_and_says_so_once(monkeypatch, settings_env,
                                                                  caplog):
    with_env(monkeypatch, REDIS_URL=closed_port_url())
    client = TestClient(create_app())
    with caplog.at_level(logging.WARNING):
        same = [subscribe(client, "ada@example.org") for _ in range(10)]
        others = [subscribe(client, f"u{n}@example.org") for n in range(12)]
    assert same == [202] * 3 + [429] * 7  # 3 an hour per mailbox
    assert others == [202] * 10 + [429] * 2  # 20 an hour per client
    assert len(outbox(settings_env)) == 3 + 10
    loud = [r for r in caplog.records if "redis" in r.getMessage().lower()
            and r.levelno >= logging.ERROR]
    assert len(loud) == 1, [r.getMessage() for r in caplog.records]


def test_it_shares_limits_through_redis_and_falls_back_when_it_is_unreachable(
        redis_url, monkeypatch, settings_env):
    first, second = TestClient(create_app()), TestClient(create_app())  # two web processes
    assert [subscribe(first, "ada@example.org") for _ in range(3)] == [202] * 3
    assert subscribe(second, "ada@example.org") == 429  # the same Redis counts for both
    with_env(monkeypatch, REDIS_URL=closed_port_url())
    third = TestClient(create_app())
    assert [subscribe(third, "bob@example.org") for _ in range(4)] == [202] * 3 + [429]


# --- per mailbox ---------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("ada+1@example.org", "ada+news@example.org"),
    ("Ada.Lovelace@gmail.com", "adalovelace+x@googlemail.com"),
    ("a.d.a@gmail.com", "ada@gmail.com"),
])
def test_it_counts_plus_aliases_and_gmail_dots_as_one_mailbox(a, b):
    assert validation.mailbox_key(a) == validation.mailbox_key(b)


@pytest.mark.parametrize(("a", "b"), [
    ("ada@example.org", "a.da@example.org"),  # dots matter outside Gmail
    ("ada@example.org", "ada@example.com"),
])
def test_it_keeps_other_addresses_apart(a, b):
    assert validation.mailbox_key(a) != validation.mailbox_key(b)


def test_it_caps_confirmations_per_mailbox_but_delivers_to_the_address_as_typed(settings_env):
    client = TestClient(create_app())
    aliases = [f"ada+{n}@example.org" for n in range(5)]
    assert [subscribe(client, a) for a in aliases] == [202] * 3 + [429] * 2
    assert sorted(m["To"] for m in outbox(settings_env)) == sorted(aliases[:3])


def test_it_caps_confirmations_per_mailbox_per_day_too(settings_env):
    client = TestClient(create_app())
    start = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
    statuses = []
    for hours in (0, 2, 4, 6, 8, 10):  # 3 an hour would be 18 over the day
        with time_machine.travel(start + dt.timedelta(hours=hours), tick=False):
            statuses += [subscribe(client, f"ada+{hours}.{n}@example.org") for n in range(3)]
    assert statuses.count(202) == validation.MAILBOX_PER_DAY
    assert len(outbox(settings_env)) == validation.MAILBOX_PER_DAY
    with time_machine.travel(start + dt.timedelta(days=1, hours=1), tick=False):
        assert subscribe(client, "ada@example.org") == 202  # a day later, welcome again

