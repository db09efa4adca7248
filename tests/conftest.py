"""Shared fixtures: a fresh SQLite database and outbox per test, real services when asked.

Tests that need PostgreSQL or Redis use the `pg_url` / `redis_url` fixtures: they skip with
the reason when the server is unreachable, except under CI=true, where they fail instead.
The browser tests share one headless Chromium (`browser`) and, for the accessibility
audits, axe-core from the npm registry (`axe`), which skip and fail the same way.

`--clock-ahead-days N` (or CLOCK_AHEAD_DAYS=N) runs every test with this process's clock moved
N days ahead and ticking (time-machine), so a test that mixes a fixed date with the wall clock
fails the day it is written rather than the day that date goes by. CI runs the in-process,
time-sensitive modules this way (.ci/run); worker processes and browsers keep the real clock.

Property tests (Hypothesis) explore new examples on every local run; under CI=true they run a
fixed, derandomized set, so a landing never fails on an example nobody has seen. An example
found locally goes into the test as an @example.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
import time_machine
from hypothesis import settings as hypothesis_settings
from sqlmodel import Session

from newsletter.core import config, db

PG_URL = os.environ.get("DATABASE_URL_TEST", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption("--clock-ahead-days", type=int,
                     default=int(os.environ.get("CLOCK_AHEAD_DAYS") or 0),
                     help="run each test with the clock moved this many days ahead "
                          "(default: $CLOCK_AHEAD_DAYS or 0)")


def pytest_report_header(config):
    days = config.getoption("--clock-ahead-days")
    return f"clock moved {days} days ahead (time-machine)" if days else None


@pytest.fixture(autouse=True)
def clock_ahead(request):
    """The wall clock, moved `--clock-ahead-days` ahead for this test (and ticking)."""
    days = request.config.getoption("--clock-ahead-days")
    if not days:
        yield
        return
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=days), tick=True):
        yield


def _reachable(url: str) -> bool:
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str) -> str:
    if _reachable(url):
        return url
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: this test must run, not skip)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def settings_env(tmp_path, monkeypatch):
    """Each test gets its own database file, outbox and settings."""
    for name in list(os.environ):
        if name.lower() in config.Settings.model_fields:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://hub.example.org")
    monkeypatch.setenv("ARXIV_MIN_INTERVAL", "0")
    config.get_settings.cache_clear()
    db.create_all()
    yield config.get_settings()
    config.get_settings.cache_clear()


@pytest.fixture
def offline_feeds(settings_env, monkeypatch):
    """Feed requests go to a port where nothing listens, so a test that builds a digest from
    stored papers (a preview refreshes the subscriber's sources first) never reaches the
    network: each source records a connection error and the stored papers are used."""
    monkeypatch.setenv("FEED_BASE_OVERRIDE", "http://127.0.0.1:9")
    config.get_settings.cache_clear()


@pytest.fixture
def session(settings_env):
    with Session(db.get_engine(), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def pg_url(monkeypatch):
    """A clean PostgreSQL schema for this test, and DATABASE_URL pointing at it."""
    url = require_service("PostgreSQL", PG_URL)
    from sqlalchemy import text
    from sqlmodel import SQLModel

    engine = db.engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    SQLModel.metadata.create_all(engine)
    monkeypatch.setenv("DATABASE_URL", url)
    config.get_settings.cache_clear()
    return url


@pytest.fixture
def redis_url(monkeypatch):
    url = require_service("Redis", REDIS_URL)
    import redis

    redis.Redis.from_url(url).flushdb()
    monkeypatch.setenv("REDIS_URL", url)
    config.get_settings.cache_clear()
    return url


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots kept by CI


def unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


# axe-core (npm) audits pages for WCAG 2 A/AA; `.ci/run` installs it into node_modules/.
AXE_CORE = Path(os.environ.get("AXE_CORE_PATH") or
                Path(__file__).resolve().parents[1] / "node_modules/axe-core/axe.min.js")
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")


class Axe:
    """Runs axe-core in a Playwright page; every full result is kept under
    test-artifacts/a11y/ (all impacts, with the failing nodes) for a human to read."""

    def __init__(self, script: Path):
        self.script = script

    def audit(self, page, name: str) -> list[dict]:
        """The serious and critical WCAG 2 A/AA violations on the page as it is now."""
        page.add_script_tag(path=str(self.script))
        result = page.evaluate(
            """tags => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']})""", WCAG_AA_TAGS)
        folder = ARTIFACTS / "a11y"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(
            json.dumps(result["violations"], indent=1, ensure_ascii=False), encoding="utf-8")
        return [v for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]

    @staticmethod
    def describe(violations: list[dict]) -> str:
        """One line per failing node: rule, selector and axe's own explanation."""
        return "\n".join(
            f"{v['id']} ({v['impact']}): {node['target']} {node.get('failureSummary', '')}"
            .replace("\n", " ")
            for v in violations for node in v["nodes"])


@pytest.fixture(scope="session")
def axe() -> Axe:
    if not AXE_CORE.is_file():
        unavailable(f"axe-core not found at {AXE_CORE} "
                    "(npm install --prefix . --no-save axe-core@4.14, or set AXE_CORE_PATH)")
    return Axe(AXE_CORE)
