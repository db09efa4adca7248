"""SECRET_KEY: weak keys are refused outside development, and keys rotate without breaking
the links already in inboxes (old keys verify, the newest signs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from newsletter.core import config, links
from newsletter.web import security

STRONG = "Zq3v0m7WkU9yX2cLr8tBf5sHj1nA4eGd6pQwTzKx"  # 40 characters of a random alphabet
OLD = "k4Jd8sLq2Wm9Xc5Vb7Nz1Hf3Gt6Ry0Pu-AeIoQwEr"


def settings_with(monkeypatch, **env: str) -> config.Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    return config.get_settings()


@pytest.mark.parametrize("weak", ["", "x", "aaaaaaaaaaaaaaaaaaaa", "a" * 64, "ab" * 32,
                                  "short-but-random-9f8e7d",
                                  "0123456789abcdef" * 2])
@pytest.mark.parametrize("environment", ["production", "test"])
def test_it_refuses_a_short_or_low_entropy_secret_key_outside_development(
        monkeypatch, weak, environment):
    with pytest.raises(config.ConfigError) as caught:
        settings_with(monkeypatch, ENVIRONMENT=environment, SECRET_KEY=weak)
    message = str(caught.value)
    assert "SECRET_KEY" in message and "\n" not in message
    assert "secrets.token_urlsafe" in message  # says how to make a good one
    if weak:
        assert weak not in message  # never echoes a secret, even a bad one


def test_it_accepts_a_generated_key_in_production(monkeypatch):
    import secrets

    key = secrets.token_urlsafe(48)
    assert settings_with(monkeypatch, ENVIRONMENT="production", SECRET_KEY=key).secret_key == key


def test_it_still_runs_development_on_the_placeholder(monkeypatch):
    monkeypatch.delenv("SECRET_KEY")
    settings = settings_with(monkeypatch, ENVIRONMENT="development")
    assert settings.secret_key == config.PLACEHOLDER_SECRET


def test_it_refuses_a_weak_fallback_key_too(monkeypatch):
    with pytest.raises(config.ConfigError, match="SECRET_KEY_FALLBACKS"):
        settings_with(monkeypatch, ENVIRONMENT="production", SECRET_KEY=STRONG,
                      SECRET_KEY_FALLBACKS=f"{OLD},aaaa")


def test_it_stops_the_server_command_with_one_line_naming_secret_key(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x")
    done = subprocess.run([sys.executable, "-m", "newsletter", "serve", "--no-jobs", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "SECRET_KEY" in lines[0]


def test_it_keeps_old_links_working_after_a_rotation_and_signs_with_the_new_key(monkeypatch):
    settings_with(monkeypatch, ENVIRONMENT="production", SECRET_KEY=OLD)
    old_link = links.make_token("unsubscribe", 7, 1)
    old_csrf = security.csrf_token_for("cookie-secret")

    settings_with(monkeypatch, SECRET_KEY=STRONG, SECRET_KEY_FALLBACKS=OLD)
    assert links.read_token("unsubscribe", old_link).subscriber_id == 7
    assert security.csrf_valid("cookie-secret", old_csrf)
    new_link = links.make_token("unsubscribe", 7, 1)

    settings_with(monkeypatch, SECRET_KEY=STRONG, SECRET_KEY_FALLBACKS="")
    assert links.read_token("unsubscribe", new_link).subscriber_id == 7  # signed by the new key
    with pytest.raises(links.InvalidToken):  # the old key, once dropped, verifies nothing
        links.read_token("unsubscribe", old_link)
