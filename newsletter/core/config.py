"""Settings: the one place configuration is read (environment and `.env`).

Everything else asks `get_settings()`; derived flags (`llm_enabled`, `redis_enabled`) keep
`os.environ` checks out of the rest of the code. A bad value stops the program with one
line naming the variable (see `newsletter.cli`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-insecure-change-me"
VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{VAR_DIR / 'academichub.db'}"
    redis_url: str | None = None
    email_backend: Literal["outbox", "smtp", "sendgrid"] = "outbox"
    outbox_dir: Path = VAR_DIR / "outbox"
    secret_key: str = PLACEHOLDER_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    from_email: str = "AcademicHub <digest@academichub.local>"
    admin_token: str | None = None
    contact_email: str = "ops@academichub.local"

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

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

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
        if self.environment != "development" and self.secret_key == PLACEHOLDER_SECRET:
            raise ValueError("SECRET_KEY: the placeholder is refused outside development")
        if self.email_backend == "sendgrid" and not self.sendgrid_api_key:
            raise ValueError("SENDGRID_API_KEY: required when EMAIL_BACKEND=sendgrid")
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ValueError("SMTP_HOST: required when EMAIL_BACKEND=smtp")
        return self

    @property
    def llm_enabled(self) -> bool:
        return bool(self.anthropic_api_key)

    @property
    def redis_enabled(self) -> bool:
        return bool(self.redis_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class ConfigError(RuntimeError):
    """A setting is invalid; the message is one line naming the variable."""


def describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    if not name:  # model-level validators name the variable themselves
        return f"configuration error: {message}"
    return f"configuration error: {name}: {message} (got {first.get('input')!r})"


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(describe(error)) from None
