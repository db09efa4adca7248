"""Settings: defaults that run anywhere, and one clear line for a bad value."""

import subprocess
import sys

import pytest

from newsletter.core import config


def test_it_runs_on_embedded_defaults_without_any_variable(monkeypatch):
    for name in ("DATABASE_URL", "OUTBOX_DIR", "ENVIRONMENT", "SECRET_KEY", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = config.Settings(_env_file=None)
    assert settings.database_url.startswith("sqlite:///var/")
    assert settings.email_backend == "outbox"
    assert not settings.llm_enabled and settings.redis_url is None  # no Redis: embedded mode


def test_it_accepts_a_plain_postgresql_url_and_uses_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal/hub")
    assert config.Settings().database_url == "postgresql+psycopg://app@db.internal/hub"


def test_it_refuses_the_placeholder_secret_outside_development(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY")
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.get_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("EMAIL_BACKEND", "pigeon"), ("SMTP_PORT", "not-a-port"), ("PUBLIC_BASE_URL", "ftp://x"),
     ("DATABASE_URL", "mysql://x/y")],
)
def test_it_names_the_variable_in_one_line_when_a_value_is_bad(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError) as caught:
        config.get_settings()
    message = str(caught.value)
    assert name in message and "\n" not in message


def test_it_requires_the_sendgrid_key_with_the_sendgrid_backend(monkeypatch):
    monkeypatch.setenv("EMAIL_BACKEND", "sendgrid")
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError, match="SENDGRID_API_KEY"):
        config.get_settings()


def test_it_stops_the_cli_with_exit_status_2_and_one_line(monkeypatch):
    monkeypatch.setenv("EMAIL_BACKEND", "pigeon")
    done = subprocess.run([sys.executable, "-m", "newsletter", "stats"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "EMAIL_BACKEND" in lines[0]


def test_it_never_echoes_a_password_or_a_secret_in_a_configuration_error(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2@db/x")
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError) as caught:
        config.get_settings()
    assert "DATABASE_URL" in str(caught.value) and "root:***@db" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("SMTP_PORT", "99999")
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError, match="SMTP_PORT.*99999"):  # not secret: echoed
        config.get_settings()


def test_it_names_a_table_setting_that_is_not_json_in_one_line(monkeypatch):
    monkeypatch.setenv("LLM_PRICES", "cheap")
    config.get_settings.cache_clear()
    with pytest.raises(config.ConfigError, match="^configuration error: LLM_PRICES: "):
        config.get_settings()
