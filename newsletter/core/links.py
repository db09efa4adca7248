"""Signed links: one salt per purpose, revocable all at once through `token_version`.

A token carries the subscriber id, their token version and optional extras (a paper id,
a digest id). Bumping `Subscriber.token_version` invalidates every link already sent.
Confirmation links expire; the others live as long as the version does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from newsletter.core.config import get_settings

PURPOSES = ("confirm", "preferences", "unsubscribe", "digest", "feedback", "click")
PATHS = {
    "confirm": "/confirm/{token}",
    "preferences": "/preferences/{token}",
    "unsubscribe": "/u/{token}",
    "digest": "/d/{token}",
    "feedback": "/f/{token}",
    "click": "/c/{token}",
}
MAX_AGE = {"confirm": 7 * 24 * 3600}  # unconfirmed subscriptions expire after 7 days


class InvalidToken(ValueError):
    """Tampered, expired, revoked or meant for another purpose."""


@dataclass(frozen=True)
class TokenData:
    purpose: str
    subscriber_id: int
    version: int
    extra: dict[str, Any]


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return _cached_serializer(get_settings().signing_keys, purpose)


@lru_cache(maxsize=32)
def _cached_serializer(keys: tuple[str, ...], purpose: str) -> URLSafeTimedSerializer:
    # Keyed by the keys too, so a changed SECRET_KEY (tests, rotation) never reuses a signer.
    # itsdangerous signs with the last key and accepts a signature by any of them.
    return URLSafeTimedSerializer(list(keys), salt=f"academichub.{purpose}")


def make_token(purpose: str, subscriber_id: int, version: int, **extra: Any) -> str:
    return _serializer(purpose).dumps({"s": subscriber_id, "v": version, **extra})


def read_token(purpose: str, token: str) -> TokenData:
    """Check signature, purpose and age; the caller still checks the version."""
    try:
        data = _serializer(purpose).loads(token, max_age=MAX_AGE.get(purpose))
    except SignatureExpired as error:
        raise InvalidToken("this link has expired") from error
    except BadSignature as error:
        raise InvalidToken("this link is not valid") from error
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise InvalidToken("this link is not valid")
    extra = {k: v for k, v in data.items() if k not in ("s", "v")}
    return TokenData(purpose, data["s"], int(data.get("v", 0)), extra)


def url_for(purpose: str, subscriber, **extra: Any) -> str:
    """An absolute URL for `subscriber` (anything with id and token_version)."""
    token = make_token(purpose, subscriber.id, subscriber.token_version, **extra)
    return get_settings().public_base_url + PATHS[purpose].format(token=token)
