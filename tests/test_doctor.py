"""`newsletter doctor`: one line per check, each failing and passing against the real thing
(SQLite, PostgreSQL and Redis when present, the fake SendGrid and Anthropic servers, an
aiosmtpd relay)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core import config, db
from tests.fake_anthropic import FakeAnthropic
from tests.fake_sendgrid import API_KEY, FakeSendGrid
from tests.test_deliver import Inbox, _free_port

runner = CliRunner()


def doctor(*args: str):
    result = runner.invoke(app, ["doctor", *args])
    lines = {line.split(":")[0].split(None, 1)[1]: line for line in result.output.splitlines()}
    return result, lines


def use(monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()


@pytest.fixture
def migrated(settings_env, tmp_path, monkeypatch):
    """A database at the migrations' head (the shared fixture's create_all has no version)."""
    use(monkeypatch, DATABASE_URL=f"sqlite:///{tmp_path / 'migrated.db'}")
    db.upgrade()


def test_it_passes_on_a_migrated_database_with_the_outbox(migrated):
    result, lines = doctor()
    assert result.exit_code == 0, result.output
    assert set(lines) == {"settings", "SECRET_KEY", "PUBLIC_BASE_URL", "database", "migrations",
                          "redis", "email (outbox)", "LLM"}
    assert all(line.startswith("ok") for line in lines.values())
    assert "at head" in lines["migrations"] and "embedded mode" in lines["redis"]
    assert "offline writer" in lines["LLM"]


def test_it_says_how_to_apply_missing_migrations(settings_env):
    result, lines = doctor()  # create_all: tables but no Alembic version
    assert result.exit_code == 1
    assert lines["migrations"].startswith("FAIL")
    assert "run: newsletter db upgrade" in lines["migrations"]


def test_it_passes_a_fresh_local_setup_whose_database_is_still_empty(settings_env, tmp_path,
                                                                      monkeypatch):
    """Before the first `demo` or `serve` (which migrate first) there is nothing to fix."""
    use(monkeypatch, ENVIRONMENT="development", DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    result, lines = doctor()
    assert result.exit_code == 0, result.output
    assert lines["migrations"].startswith("ok")
    assert "newsletter demo" in lines["migrations"]
    use(monkeypatch, ENVIRONMENT="test")  # deployed, the web does not migrate: a fault
    result, lines = doctor()
    assert result.exit_code == 1
    assert "run: newsletter db upgrade" in lines["migrations"]


def test_it_reports_invalid_settings_in_one_line_and_stops_there(settings_env, monkeypatch):
    use(monkeypatch, SECRET_KEY="dev-insecure-change-me")  # refused outside development
    result, lines = doctor()
    assert result.exit_code == 1
    assert list(lines) == ["settings"]
    assert "SECRET_KEY" in lines["settings"] and lines["settings"].startswith("FAIL")


def test_it_refuses_the_placeholder_key_when_links_leave_the_machine(migrated, monkeypatch):
    use(monkeypatch, ENVIRONMENT="development", SECRET_KEY="dev-insecure-change-me",
        PUBLIC_BASE_URL="https://digest.example.org")
    result, lines = doctor()
    assert result.exit_code == 1
    assert lines["SECRET_KEY"].startswith("FAIL") and "ENVIRONMENT=production" in lines[
        "SECRET_KEY"]
    use(monkeypatch, PUBLIC_BASE_URL="http://127.0.0.1:8000")
    result, lines = doctor()
    assert lines["SECRET_KEY"].startswith("ok") and result.exit_code == 0


def test_it_wants_a_public_https_base_url_in_production(migrated, monkeypatch):
    use(monkeypatch, ENVIRONMENT="production", SECRET_KEY="Vq3-xZ8pLr0_tYw2Nk7sHd4Jm9aBc6Ef1",
        PUBLIC_BASE_URL="http://127.0.0.1:8000")
    _, lines = doctor()
    assert lines["PUBLIC_BASE_URL"].startswith("FAIL") and "this machine" in lines[
        "PUBLIC_BASE_URL"]
    use(monkeypatch, PUBLIC_BASE_URL="http://digest.example.org")
    _, lines = doctor()
    assert lines["PUBLIC_BASE_URL"].startswith("FAIL") and "https" in lines["PUBLIC_BASE_URL"]
    use(monkeypatch, PUBLIC_BASE_URL="https://digest.example.org")
    result, lines = doctor()
    assert lines["PUBLIC_BASE_URL"].startswith("ok") and result.exit_code == 0, result.output


def test_it_reports_an_unreachable_database_and_redis(settings_env, monkeypatch):
    port = _free_port()  # nothing listens there
    use(monkeypatch, DATABASE_URL=f"postgresql://postgres:hunter2@127.0.0.1:{port}/x",
        REDIS_URL=f"redis://127.0.0.1:{port}/0")
    result, lines = doctor()
    assert result.exit_code == 1
    for name in ("database", "migrations", "redis"):
        assert lines[name].startswith("FAIL"), lines[name]
    assert "fix DATABASE_URL" in lines["database"] and "fix REDIS_URL" in lines["redis"]
    assert "hunter2" not in result.output


@pytest.mark.redis
def test_it_reaches_redis(migrated, redis_url):
    result, lines = doctor()
    assert lines["redis"].startswith("ok") and result.exit_code == 0, result.output


@pytest.mark.postgres
def test_it_says_to_create_a_postgresql_database_that_does_not_exist(pg_url, monkeypatch):
    use(monkeypatch, DATABASE_URL=pg_url.rsplit("/", 1)[0] + "/no_such_database_here")
    result, lines = doctor()
    assert result.exit_code == 1
    assert "does not exist" in lines["database"] and "createdb" in lines["database"]
    assert "start it" not in lines["database"]


@pytest.mark.postgres
def test_it_checks_postgresql_and_its_migrations(pg_url):
    _, lines = doctor()  # the fixture's create_all: reachable, no version
    assert lines["database"].startswith("ok") and lines["migrations"].startswith("FAIL")


def test_it_checks_the_sendgrid_key_with_an_authenticated_call(migrated, monkeypatch):
    with FakeSendGrid() as fake:
        use(monkeypatch, EMAIL_BACKEND="sendgrid", SENDGRID_API_KEY=API_KEY,
            SENDGRID_API_HOST=fake.url)
        result, lines = doctor()
        assert lines["email (sendgrid)"].startswith("ok") and result.exit_code == 0
        fake.scopes = ["messages.read"]
        _, lines = doctor()
        assert lines["email (sendgrid)"].startswith("FAIL")
        assert "mail.send" in lines["email (sendgrid)"]
        use(monkeypatch, SENDGRID_API_KEY="SG.wrong")
        result, lines = doctor()
        assert result.exit_code == 1
        assert "401" in lines["email (sendgrid)"] and "SENDGRID_API_KEY" in lines[
            "email (sendgrid)"]
        assert fake.accepted == []  # the check sends nothing


def test_it_reports_an_unreachable_sendgrid(migrated, monkeypatch):
    use(monkeypatch, EMAIL_BACKEND="sendgrid", SENDGRID_API_KEY=API_KEY,
        SENDGRID_API_HOST=f"http://127.0.0.1:{_free_port()}")
    _, lines = doctor()
    assert lines["email (sendgrid)"].startswith("FAIL")
    assert "cannot reach" in lines["email (sendgrid)"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback only
def test_it_logs_in_to_the_smtp_relay(migrated, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session_, envelope, mechanism, auth_data):  # 535 when wrong
        return AuthResult(success=auth_data.password in (b"s3cret", "s3cret"), handled=False)

    port = _free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        use(monkeypatch, EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
            SMTP_SECURITY="none", SMTP_USERNAME="relay", SMTP_PASSWORD="s3cret")
        result, lines = doctor()
        assert lines["email (smtp)"].startswith("ok") and result.exit_code == 0, result.output
        use(monkeypatch, SMTP_PASSWORD="wrong")
        _, lines = doctor()
        assert lines["email (smtp)"].startswith("FAIL")
        assert "SMTP_PASSWORD" in lines["email (smtp)"]
    finally:
        controller.stop()
    assert inbox.messages == []
    use(monkeypatch, SMTP_PASSWORD="s3cret")  # the relay is gone now
    _, lines = doctor()
    assert lines["email (smtp)"].startswith("FAIL") and "cannot talk to" in lines["email (smtp)"]


def test_it_checks_the_llm_key_with_the_models_list(migrated, monkeypatch):
    with FakeAnthropic(api_key="sk-test") as fake:
        use(monkeypatch, ANTHROPIC_API_KEY="sk-test", ANTHROPIC_BASE_URL=fake.url)
        result, lines = doctor()
        assert lines["LLM"].startswith("ok") and result.exit_code == 0, result.output
        assert [r["path"].split("?")[0] for r in fake.requests] == ["/v1/models"]
        use(monkeypatch, ANTHROPIC_API_KEY="sk-wrong")
        result, lines = doctor()
        assert lines["LLM"].startswith("FAIL") and "ANTHROPIC_API_KEY" in lines["LLM"]
        assert result.exit_code == 1
    _, lines = doctor()  # the server is gone
    assert lines["LLM"].startswith("FAIL") and "ANTHROPIC_BASE_URL" in lines["LLM"]


def test_it_prints_json_on_request(migrated, monkeypatch):
    result = runner.invoke(app, ["doctor", "--json"])
    checks = json.loads(result.output)
    assert result.exit_code == 0
    assert {c["name"] for c in checks} >= {"settings", "database", "migrations", "LLM"}
    assert all(set(c) == {"name", "ok", "detail"} and c["ok"] for c in checks)


def test_it_checks_the_metrics_folder_when_one_is_set(migrated, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    result, lines = doctor()
    assert lines["metrics"].startswith("FAIL") and result.exit_code == 1
    (tmp_path / "missing").mkdir()
    result, lines = doctor()
    assert lines["metrics"].startswith("ok") and result.exit_code == 0
