"""`newsletter doctor`: is this deployment able to run? One line per check, what to fix.

Run it after changing the environment, before starting the Procfile, or when mail stops.
Each check talks to the real thing with the harmless call that proves the credentials
(SendGrid's scopes, an SMTP login, Anthropic's model list) and sends nothing. A check that
needs valid settings is not run when they are invalid. Exit status 1 when any check fails.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer

from newsletter.cli.common import Opt, out
from newsletter.core.config import (
    MAKE_A_KEY,
    PLACEHOLDER_SECRET,
    ConfigError,
    Settings,
    get_settings,
    mask,
    weak_key,
)

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return mask(text.splitlines()[0] if text else type(error).__name__)


def check_settings() -> tuple[Check, Settings | None]:
    try:
        settings = get_settings()
    except ConfigError as error:
        return Check("settings", False, str(error)), None
    return Check("settings", True, f"ENVIRONMENT={settings.environment}, "
                 f"EMAIL_BACKEND={settings.email_backend}"), settings


def _public(settings: Settings) -> bool:
    """Looks like a real deployment: links that leave this machine, or real mail."""
    host = urlparse(settings.public_base_url).hostname or ""
    return host not in LOCAL_HOSTS or settings.email_backend != "outbox"


def check_secret(settings: Settings) -> Check:
    name = "SECRET_KEY"
    if settings.secret_key == PLACEHOLDER_SECRET and _public(settings):
        return Check(name, False, "the development placeholder signs links that leave this "
                     "machine; set ENVIRONMENT=production and SECRET_KEY from: " + MAKE_A_KEY)
    problem = weak_key(settings.secret_key)
    if problem and _public(settings):
        return Check(name, False, f"{problem} for a public deployment; make one with: "
                     f"{MAKE_A_KEY}")
    if settings.secret_key == PLACEHOLDER_SECRET:
        return Check(name, True, "the development placeholder (fine on this machine only)")
    return Check(name, True, "set")


def check_public_url(settings: Settings) -> Check:
    url = urlparse(settings.public_base_url)
    if settings.environment == "production":
        if url.hostname in LOCAL_HOSTS:
            return Check("PUBLIC_BASE_URL", False, f"{settings.public_base_url} is this "
                         "machine: links in emails would not open; set the public address")
        if url.scheme != "https":
            return Check("PUBLIC_BASE_URL", False, f"{settings.public_base_url} is not https: "
                         "signed links would travel in clear; put TLS in front and use https://")
    return Check("PUBLIC_BASE_URL", True, settings.public_base_url)


def check_database(settings: Settings) -> Check:
    from sqlalchemy import text

    from newsletter.core.db import engine_for

    try:
        with engine_for(settings.database_url).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001  (every failure is a line, never a traceback)
        # The server answered but has no such database: starting it again would not help.
        todo = ("create it (createdb NAME), then: newsletter db upgrade"
                if "does not exist" in str(error) else "start it")
        return Check("database", False, f"cannot connect ({_first_line(error)}); {todo}, or "
                     "fix DATABASE_URL")
    return Check("database", True, mask(settings.database_url))


def check_migrations(settings: Settings) -> Check:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from newsletter.core.db import alembic_config, engine_for

    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    try:
        with engine_for(settings.database_url).connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            empty = not inspect(connection).get_table_names()
    except Exception as error:  # noqa: BLE001
        return Check("migrations", False, f"cannot read the schema version "
                     f"({_first_line(error)})")
    if current is None and empty and settings.environment == "development":
        # A fresh local setup, not a fault: `demo` and `serve` migrate before they start.
        return Check("migrations", True, "empty database: `newsletter demo` or `serve` creates "
                     "the schema (or: newsletter db upgrade)")
    if current != head:
        return Check("migrations", False, f"the schema is at {current or 'no version'}, the code "
                     f"expects {head}; run: newsletter db upgrade")
    return Check("migrations", True, f"at head ({head})")


def check_redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", True, "not configured: embedded mode (no Celery workers; locks "
                     "and rate limits per process)")
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                             socket_connect_timeout=5).ping()
    except Exception as error:  # noqa: BLE001
        return Check("redis", False, f"cannot reach {mask(settings.redis_url)} "
                     f"({_first_line(error)}); start it or fix REDIS_URL")
    return Check("redis", True, mask(settings.redis_url))


def check_email(settings: Settings) -> Check:
    backend = settings.email_backend
    try:
        if backend == "sendgrid":
            return _sendgrid(settings)
        if backend == "smtp":
            return _smtp(settings)
        return _outbox(settings)
    except Exception as error:  # noqa: BLE001
        return Check(f"email ({backend})", False, _first_line(error))


def _outbox(settings: Settings) -> Check:
    folder = Path(settings.outbox_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        return Check("email (outbox)", False, f"cannot write to {folder} ({error.strerror}); "
                     "fix OUTBOX_DIR or its permissions")
    return Check("email (outbox)", True, f"writes to {folder.resolve()} (nothing is sent)")


def _sendgrid(settings: Settings) -> Check:
    """GET /v3/scopes: authenticated, sends nothing, and says whether the key may send."""
    import python_http_client

    from newsletter.delivery.backends.sendgrid import SendGridBackend

    client = SendGridBackend().client.client
    try:
        scopes = json.loads(client.scopes.get().body or b"{}").get("scopes") or []
    except python_http_client.exceptions.HTTPError as error:
        status = int(error.status_code)
        hint = ("SENDGRID_API_KEY is wrong or revoked; make a key with Mail Send access"
                if status in (401, 403) else "SendGrid answered an error; try again later")
        return Check("email (sendgrid)", False, f"{settings.sendgrid_api_host} answered "
                     f"{status}: {hint}")
    except OSError as error:  # urllib's URLError: no answer at all
        return Check("email (sendgrid)", False, f"cannot reach {settings.sendgrid_api_host} "
                     f"({getattr(error, 'reason', error)}); check SENDGRID_API_HOST and the "
                     "network")
    if "mail.send" not in scopes:
        return Check("email (sendgrid)", False, "the key works but may not send mail (no "
                     "mail.send scope); give it Mail Send access")
    return Check("email (sendgrid)", True, f"key accepted by {settings.sendgrid_api_host}, "
                 "may send mail")


def _smtp(settings: Settings) -> Check:
    """Connect, EHLO (and STARTTLS as configured), log in when a username is set; no mail."""
    import smtplib

    from newsletter.delivery.backends.smtp import SmtpBackend

    where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
    try:
        with SmtpBackend()._connect() as client:
            client.ehlo_or_helo_if_needed()
            if settings.smtp_username:
                client.login(settings.smtp_username, settings.smtp_password or "")
    except smtplib.SMTPAuthenticationError as error:
        return Check("email (smtp)", False, f"{where} refused the login ({error.smtp_code}); "
                     "fix SMTP_USERNAME / SMTP_PASSWORD")
    except (OSError, smtplib.SMTPException) as error:
        return Check("email (smtp)", False, f"cannot talk to {where} ({_first_line(error)}); "
                     "fix SMTP_HOST, SMTP_PORT or SMTP_SECURITY")
    login = f", logged in as {settings.smtp_username}" if settings.smtp_username else ""
    return Check("email (smtp)", True, f"{where} answered{login}")


def check_llm(settings: Settings) -> Check:
    if not settings.llm_enabled:
        return Check("LLM", True, "no ANTHROPIC_API_KEY: the offline writer writes the synthesis")
    import anthropic

    from newsletter.writing.llm import AnthropicProvider

    client = AnthropicProvider(settings).client.with_options(timeout=15)
    try:
        client.models.list(limit=1)
    except anthropic.AuthenticationError:
        return Check("LLM", False, "ANTHROPIC_API_KEY was refused (401); set a valid key or "
                     "unset it to use the offline writer")
    except anthropic.APIError as error:
        return Check("LLM", False, f"the Anthropic API failed ({_first_line(error)}); check "
                     "ANTHROPIC_BASE_URL and the network")
    return Check("LLM", True, f"key accepted; model {settings.llm_model}")


def check_metrics_dir() -> Check | None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return None
    if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        return Check("metrics", False, f"PROMETHEUS_MULTIPROC_DIR={folder} is not a writable "
                     "folder; create it (empty it before each start)")
    return Check("metrics", True, f"multiprocess files in {folder}")


PER_SETTINGS: tuple[Callable[[Settings], Check], ...] = (
    check_secret, check_public_url, check_database, check_migrations, check_redis,
    check_email, check_llm)


def run_checks() -> list[Check]:
    first, settings = check_settings()
    checks = [first]
    if settings is None:
        return checks
    checks += [check(settings) for check in PER_SETTINGS]
    metrics = check_metrics_dir()
    return checks + ([metrics] if metrics else [])


def doctor(as_json: Annotated[bool, Opt("--json", help="One JSON list of the checks.")] = False):
    """Check settings, database, migrations, Redis, the email backend and the LLM key."""
    checks = run_checks()
    if as_json:
        print(json.dumps([asdict(check) for check in checks], ensure_ascii=False))
    else:
        for check in checks:
            out.print(check.line(), highlight=False, markup=False, soft_wrap=True)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
