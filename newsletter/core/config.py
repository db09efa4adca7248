"""Settings: the one place configuration is read (environment and `.env`).

Everything else asks `get_settings()`; derived flags (`llm_enabled`) keep `os.environ`
checks out of the rest of the code. A bad value stops the program with one
line naming the variable (see `newsletter.cli`).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

PLACEHOLDER_SECRET = "dev-insecure-change-me"
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{VAR_DIR / 'academichub.db'}"
    redis_url: str | None = None
    email_backend: Literal["outbox", "smtp", "sendgrid"] = "outbox"
    outbox_dir: Path = VAR_DIR / "outbox"
    secret_key: str = PLACEHOLDER_SECRET
    # Rotation: the previous keys, comma-separated. They still verify links and forms; only
    # SECRET_KEY signs. Drop them once the links they signed no longer matter.
    secret_key_fallbacks: Annotated[list[str], NoDecode] = []
    public_base_url: str = "http://127.0.0.1:8000"
    from_email: str = "AcademicHub <digest@academichub.local>"
    admin_token: str | None = None
    # Days a preferences link works (each email carries a fresh one; an expired one offers to
    # mail a new link). Unsubscribe links never expire: they are in old emails, and must work.
    preferences_link_days: int = Field(default=30, ge=1, le=3650)
    # Proxies whose X-Forwarded-For/-Proto we believe (addresses or networks, comma-separated).
    # None by default: then no client can choose the address the per-IP limits count.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    contact_email: str = "ops@academichub.local"
    # Logs: `json` is one object per line with the digest and subscriber ids (core/logs.py).
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    llm_model: str = "claude-sonnet-4-6"
    llm_timeout: float = Field(default=60.0, gt=0)
    # LLM robustness and cost (issue 4). Retries are ours (the SDK's are off): 429/529/5xx only.
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_retry_after_cap: float = Field(default=30.0, ge=0)  # the SDK honours retry-after uncapped
    llm_backoff_base: float = Field(default=1.0, ge=0)
    llm_backoff_max: float = Field(default=20.0, ge=0)
    llm_breaker_failures: int = Field(default=5, ge=1)  # outage: stop calling for a while
    llm_breaker_seconds: float = Field(default=300.0, ge=0)
    llm_batch_poll_seconds: float = Field(default=30.0, ge=0)
    llm_batch_max_wait: float = Field(default=3600.0, ge=0)
    # USD per million tokens: input, output, cache write (5 min), cache read; "default" = fallback
    llm_prices: dict[str, dict[str, float]] = {
        "claude-sonnet-4-6": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
        "claude-sonnet-4-5": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
        "claude-haiku-4-5": {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
        "claude-opus-4-6": {"input": 5.0, "output": 25.0, "cache_write": 6.25, "cache_read": 0.5},
        "claude-opus-4-5": {"input": 5.0, "output": 25.0, "cache_write": 6.25, "cache_read": 0.5},
        "default": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
    }
    llm_batch_discount: float = Field(default=0.5, gt=0, le=1)  # Message Batches bill half

    sendgrid_api_key: str | None = None
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_webhook_public_key: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"

    # Harvesting
    http_timeout: float = Field(default=30.0, gt=0)
    arxiv_min_interval: float = Field(default=3.0, ge=0)  # arXiv asks for one request per 3 s
    freshness_minutes: int = Field(default=60, ge=0)  # fetch each source at most once per window
    feed_base_override: str | None = None  # tests/offline: rewrite feed hosts to a local server
    # Crossref enrichment of journal papers whose feed gave no or a one-sentence abstract.
    crossref_api_url: str = "https://api.crossref.org"  # tests point it at a local fake
    crossref_mailto: str | None = None  # the polite pool's contact; CONTACT_EMAIL when unset
    crossref_min_interval: float = Field(default=0.2, ge=0)  # s between requests, at least
    crossref_enrich_limit: int = Field(default=200, ge=0)  # lookups per cycle at most
    crossref_retry_days: float = Field(default=2.0, gt=0)  # ask again about a miss after
    crossref_error_retry_minutes: float = Field(default=60.0, gt=0)  # ... about a failure

    # Digest defaults
    default_send_hour: int = Field(default=7, ge=0, le=23)
    default_max_papers: int = Field(default=10, ge=1, le=15)
    candidate_days: int = Field(default=7, ge=1, le=31)

    # Scheduling and delivery (issue 6)
    tick_minutes: int = Field(default=5, ge=1, le=60)  # beat period of the due-subscriber tick
    send_empty_note: bool = False  # on arXiv's quiet mornings send "nothing new" instead of nothing
    sendgrid_timeout: float = Field(default=20.0, gt=0)  # the SDK has no timeout by default
    smtp_timeout: float = Field(default=30.0, gt=0)
    deliver_max_attempts: int = Field(default=5, ge=1)  # then the digest is marked failed
    deliver_reconcile_seconds: float = Field(default=120.0, ge=0)  # before re-sending a stuck one
    # Digests per worker task: one ranking call, one session and one HTTP client for them all.
    dispatch_batch_size: int = Field(default=50, ge=1, le=1000)
    soft_bounce_threshold: int = Field(default=3, ge=1)  # soft bounces before suppression
    list_id: str = "AcademicHub daily digest <digest.academichub.local>"

    # Learned relevance (issue 12): the shared representation and the subscriber models.
    embedding_model_path: Path | None = None  # a local model2vec folder instead of LSA
    embedding_dims: int = Field(default=256, ge=8, le=1024)  # LSA components
    embedding_refit_days: int = Field(default=7, ge=1)  # refit LSA on the recent corpus
    learning_background: int = Field(default=1000, ge=50, le=20000)  # papers trained against

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("public_base_url", "crossref_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("secret_key_fallbacks", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:  # "*" would let every client name its own address again
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (such as "
                                 "10.0.0.0/8); list the proxies in front of the app") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgresql://"):  # psycopg 3 is the installed driver
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _production_needs_real_values(self) -> Settings:
        if self.environment != "development":
            if self.secret_key == PLACEHOLDER_SECRET:
                raise ValueError("SECRET_KEY: the placeholder is refused outside development; "
                                 f"make a key with: {MAKE_A_KEY}")
            for name, keys in (("SECRET_KEY", [self.secret_key]),
                               ("SECRET_KEY_FALLBACKS", self.secret_key_fallbacks)):
                problem = next(filter(None, map(weak_key, keys)), None)
                if problem:
                    raise ValueError(f"{name}: {problem} outside development; "
                                     f"make a key with: {MAKE_A_KEY}")
        if self.email_backend == "sendgrid" and not self.sendgrid_api_key:
            raise ValueError("SENDGRID_API_KEY: required when EMAIL_BACKEND=sendgrid")
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ValueError("SMTP_HOST: required when EMAIL_BACKEND=smtp")
        return self

    @property
    def signing_keys(self) -> tuple[str, ...]:
        """Every key that verifies, oldest first: itsdangerous signs with the last one."""
        return (*self.secret_key_fallbacks, self.secret_key)

    @property
    def crossref_contact(self) -> str:
        return self.crossref_mailto or self.contact_email

    @property
    def llm_enabled(self) -> bool:
        return bool(self.anthropic_api_key)


def weak_key(key: str) -> str | None:
    """Why `key` is too weak to sign links, or None.

    Anyone who guesses it can forge every link (read, change, delete any subscriber), so
    outside development it must be at least 32 bytes with at least 8 distinct characters,
    2.5 bits of Shannon entropy per character (a random hex key has ~3.9, `aaaa...` 0) and
    no repeated pattern. A checksum of a key, not a password meter: generated keys pass.
    """
    if len(key.encode()) < 32:
        return "a key shorter than 32 bytes is refused"
    counts = Counter(key)
    bits = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    periodic = (key + key).find(key, 1) < len(key)  # "abcabc...": a repeated unit
    if len(counts) < 8 or bits < 2.5 or periodic:
        return "a low-entropy key (repeated or too few distinct characters) is refused"
    return None


# Settings whose values never appear in an error message; URLs lose their password.
SECRET_FIELDS = re.compile(r"key|password|token|secret", re.I)
URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):[^@/\s]*@")


def mask(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://user:***@host`, anywhere in `text`."""
    return URL_PASSWORD.sub(r"\1:***@", text)


class ConfigError(RuntimeError):
    """A setting is invalid; the message is one line naming the variable."""


def describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    if not name:  # model-level validators name the variable themselves
        return f"configuration error: {message}"
    if SECRET_FIELDS.search(name):
        return f"configuration error: {name}: {message}"
    return f"configuration error: {name}: {message} (got {mask(repr(first.get('input')))})"


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(describe(error)) from None
    except SettingsError as error:  # a list or table setting that is not JSON
        field = re.search(r'field "(\w+)"', str(error))
        name = field.group(1).upper() if field else "a setting"
        raise ConfigError(f"configuration error: {name}: not valid JSON") from None
