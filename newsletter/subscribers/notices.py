"""The emails a subscriber's own actions call for: confirm, welcome, "already subscribed",
a fresh preferences link.

`subscribe_in_background` is what the web form and the API run after their answer went out,
once the input is valid and the limits allow it: it saves the subscription and sends one
email, whoever the address is. A new or pending address gets its confirmation (the same link
again, never a new one, while it is pending), an active or paused one a note that it is
already subscribed, with its preferences link (and an event saying someone asked). Nothing
in the answer, nor in its timing, depends on the address, so nobody learns who subscribes;
the subscribe limits per mailbox (`web.security`) cap both emails alike. Suppressed
addresses (hard bounces, spam complaints) get nothing, even after a deletion and a new
subscribe.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from newsletter.core import links
from newsletter.core.db import session_scope
from newsletter.core.models import Subscriber, SubscriberStatus

log = logging.getLogger(__name__)
# Who may be sent a fresh preferences link: anyone whose preferences page still means something.
LINK_STATUSES = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED, SubscriberStatus.UNSUBSCRIBED)


def _send(session: Session, subscriber: Subscriber, rendered) -> bool:
    from newsletter.delivery.backends import send_transactional
    from newsletter.delivery.message import build_transactional
    from newsletter.delivery.state import is_suppressed

    if is_suppressed(session, subscriber.email):
        return False
    send_transactional(build_transactional(subscriber.email, rendered, subscriber))
    return True


def confirm_url(session: Session, subscriber: Subscriber) -> str:
    """The link `lifecycle.subscribe` kept for this pending subscription (minted here only
    for a row that has none yet, or whose link expired)."""
    from newsletter.subscribers.lifecycle import confirm_token

    before = subscriber.confirm_token
    token = confirm_token(subscriber)
    if token != before:
        session.add(subscriber)
        session.commit()
    return links.url_with("confirm", token)


def send_confirmation(session: Session, subscriber: Subscriber) -> bool:
    """Email the double opt-in link; only pending, unsuppressed addresses get one."""
    if subscriber.status != SubscriberStatus.PENDING:
        return False
    from newsletter.compose import notices

    return _send(session, subscriber,
                 notices.render_confirmation(subscriber, confirm_url(session, subscriber)))


def send_welcome(session: Session, subscriber: Subscriber) -> bool:
    """After confirmation: when the first digest comes and where to change things."""
    if subscriber.status != SubscriberStatus.ACTIVE:
        return False
    from newsletter.compose import notices
    from newsletter.subscribers.lifecycle import interests

    chosen = interests(session, subscriber)
    topics = chosen["keywords"] + chosen["categories"] + chosen["authors"]
    return _send(session, subscriber, notices.render_welcome(subscriber, topics))


def send_already_subscribed(session: Session, subscriber: Subscriber) -> bool:
    """Someone subscribed an address that already gets the digest: tell its owner, with the
    preferences link (what they most likely wanted), instead of changing anything."""
    if subscriber.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED):
        return False
    from newsletter.compose import notices

    return _send(session, subscriber, notices.render_already_subscribed(subscriber))


def send_preferences_link(session: Session, subscriber: Subscriber) -> bool:
    """A fresh preferences link, mailed to the address on file (never shown on a page)."""
    if subscriber.status not in LINK_STATUSES:
        return False
    from newsletter.compose import notices

    return _send(session, subscriber, notices.render_preferences_link(subscriber))


# --- background jobs: own session, errors logged (the answer went out already) -----------

def subscribe_in_background(email: str, fields: dict, source: str) -> None:
    """`lifecycle.subscribe` with already validated input, then the one email it calls for."""
    from newsletter.subscribers import lifecycle

    try:
        with session_scope() as session:
            subscriber = lifecycle.subscribe(session, email, **fields, source=source)
            if not send_confirmation(session, subscriber):
                send_already_subscribed(session, subscriber)
    except Exception:  # noqa: BLE001  the answer went out already, and said the same to all
        log.exception("subscribing %s from %s failed", source, email.rpartition("@")[2])


def after_confirm(subscriber_id: int) -> None:
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        try:
            if subscriber is not None:
                send_welcome(session, subscriber)
        except Exception:  # noqa: BLE001  the subscription is active either way
            log.exception("welcome email for subscriber %s failed", subscriber_id)


def preferences_link_for(email: str) -> None:
    """The "send me a fresh link" form: whoever has this address gets the link; nobody
    learns whether anyone has it."""
    with session_scope() as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
        try:
            if subscriber is not None:
                send_preferences_link(session, subscriber)
        except Exception:  # noqa: BLE001
            log.exception("preferences link for subscriber %s failed", subscriber.id)
