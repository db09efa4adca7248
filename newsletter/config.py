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
    llm_model: str = "claude-sonnet-4-5"
    llm_timeout: float = Field(default=60.0, gt=0)

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
