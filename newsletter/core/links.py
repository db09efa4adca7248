"""Signed links: one salt per purpose, revocable all at once through `token_version`.

A token carries the subscriber's random `public_id` (links signed before issue 11 carry
the numeric id instead, and keep working), their token version and optional extras (a
paper id, a digest id). Bumping `Subscriber.token_version` invalidates every link already
sent. Confirmation links expire after 7 days, preferences and archive links after
PREFERENCES_LINK_DAYS (every email carries fresh ones); unsubscribe links, in old emails
too, never expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlmodel import Session, select

from newsletter.core.config import get_settings
from newsletter.core.models import Subscriber

PURPOSES = ("confirm", "preferences", "unsubscribe", "digest", "feedback", "click", "archive",
            "save", "export", "feed")
PATHS = {
    "confirm": "/confirm/{token}",
    "preferences": "/preferences/{token}",
    "unsubscribe": "/u/{token}",
    "digest": "/d/{token}",
    "feedback": "/f/{token}",
    "click": "/c/{token}",
    "archive": "/a/{token}",
    "save": "/s/{token}",
    "export": "/x/{token}",  # citations (BibTeX / RIS) of a paper or a digest
    "feed": "/feed/{token}",  # the personal Atom feed
}
# Signed without a time stamp, so the same subscriber and version give the same URL every
# time (a feed reader keeps one address); revoked through a version of their own.
UNTIMED = ("feed",)
CONFIRM_DAYS = 7  # unconfirmed subscriptions expire after 7 days
DAY = 24 * 3600
# Links to what a subscriber has read (their archive, like their preferences) expire after
# PREFERENCES_LINK_DAYS: a forwarded email must not open it for ever.
EXPIRING = ("preferences", "archive")


class InvalidToken(ValueError):
    """Tampered, expired, revoked or meant for another purpose."""

    def __init__(self, message: str, purpose: str | None = None, *, expired: bool = False):
        super().__init__(message)
        self.purpose, self.expired = purpose, expired


@dataclass(frozen=True)
class TokenData:
    purpose: str
    subscriber_id: int | None  # links signed before public ids
    public_id: str | None
    version: int
    extra: dict[str, Any]


def max_age(purpose: str) -> int | None:
    """Seconds a link of this purpose stays valid; None: as long as the token version."""
    if purpose == "confirm":
        return CONFIRM_DAYS * DAY
    if purpose in EXPIRING:
        return get_settings().preferences_link_days * DAY
    return None


def _serializer(purpose: str) -> URLSafeSerializer | URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return _cached_serializer(get_settings().signing_keys, purpose)


@lru_cache(maxsize=32)
def _cached_serializer(keys: tuple[str, ...], purpose: str
                       ) -> URLSafeSerializer | URLSafeTimedSerializer:
    # Keyed by the keys too, so a changed SECRET_KEY (tests, rotation) never reuses a signer.
    # itsdangerous signs with the last key and accepts a signature by any of them.
    kind = URLSafeSerializer if purpose in UNTIMED else URLSafeTimedSerializer
    return kind(list(keys), salt=f"academichub.{purpose}")


def make_token(purpose: str, who: str | int, version: int, **extra: Any) -> str:
    """`who` is the subscriber's public id (a str); an int makes the pre-issue-11 kind."""
    key = "u" if isinstance(who, str) else "s"
    return _serializer(purpose).dumps({key: who, "v": version, **extra})


def read_token(purpose: str, token: str) -> TokenData:
    """Check signature, purpose and age; the caller still checks the version."""
    try:
        serializer = _serializer(purpose)
        data = (serializer.loads(token) if purpose in UNTIMED
                else serializer.loads(token, max_age=max_age(purpose)))
    except SignatureExpired as error:
        raise InvalidToken("this link has expired", purpose, expired=True) from error
    except BadSignature as error:
        raise InvalidToken("this link is not valid", purpose) from error
    if not isinstance(data, dict) or not (isinstance(data.get("u"), str)
                                          or type(data.get("s")) is int):
        raise InvalidToken("this link is not valid", purpose)
    extra = {k: v for k, v in data.items() if k not in ("u", "s", "v")}
    return TokenData(purpose, data.get("s"), data.get("u"), int(data.get("v", 0)), extra)


def url_for(purpose: str, subscriber, **extra: Any) -> str:
    """An absolute URL for `subscriber` (anything with public_id and token_version)."""
    return url_with(purpose, make_token(purpose, subscriber.public_id,
                                        subscriber.token_version, **extra))


def export_url(subscriber, fmt: str = "bibtex", **what: Any) -> str:
    """The download link of `what` (digest=<id>, paper=<id> or saved=1) as citations in `fmt`
    (bibtex | ris); BibTeX links name no format, which keeps the emailed ones short."""
    return url_for("export", subscriber, **what, **({"fmt": fmt} if fmt != "bibtex" else {}))


def feed_url(subscriber) -> str:
    """The subscriber's Atom feed address: the same until they revoke it (`feed_version`)."""
    return url_for("feed", subscriber, f=subscriber.feed_version)


def url_with(purpose: str, token: str) -> str:
    """The absolute URL of an existing token (a pending subscription's stored one)."""
    return get_settings().public_base_url + PATHS[purpose].format(token=token)


def subscriber_of(session: Session, data: TokenData) -> Subscriber | None:
    """Who a verified token names, if they still exist and its version is current."""
    if data.public_id is not None:
        subscriber = session.exec(select(Subscriber).where(
            Subscriber.public_id == data.public_id)).first()
    else:  # signed before public ids: the numeric id, never reused (see the model)
        subscriber = session.get(Subscriber, data.subscriber_id)
    if subscriber is None or subscriber.token_version != data.version:
        return None
    return subscriber
