"""The email as it goes out: an `EmailMessage` with a plain and an HTML part and its headers.

Built just before a send (digest or transactional) and by `newsletter preview` for its .eml.
Pure: no database, no network. Every digest carries `List-Unsubscribe` and
`List-Unsubscribe-Post` (RFC 8058 one-click), `List-Id`, and the digest id in
`X-AcademicHub-Digest`, which the backends pass on (SendGrid as a custom arg) so a lost answer
can be reconciled later.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from newsletter.core import links
from newsletter.core.config import get_settings
from newsletter.core.models import Digest, Subscriber, SubscriberStatus

__all__ = ["EMAIL_POLICY", "body_parts", "build_message", "build_transactional"]

# RFC 5322 allows 998-character lines; at the default 78 a long unbreakable header (our
# List-Unsubscribe URL) would be RFC 2047-encoded, which mail clients cannot use as a URL.
EMAIL_POLICY = email.policy.default.clone(max_line_length=998)


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "academichub.local"


def _base(to: str, subject: str, text: str, html: str) -> EmailMessage:
    settings = get_settings()
    message = EmailMessage(policy=EMAIL_POLICY)
    message["From"] = settings.from_email
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=_domain(settings.from_email))
    message.set_content(text or "", subtype="plain", cte="quoted-printable")
    message.add_alternative(html or "", subtype="html", cte="quoted-printable")
    return message  # multipart/alternative: plain first, html last (the preferred part)


def _unsubscribe_headers(message: EmailMessage, subscriber: Subscriber) -> None:
    message["List-Unsubscribe"] = f"<{links.url_for('unsubscribe', subscriber)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058


def build_message(digest: Digest, subscriber: Subscriber) -> EmailMessage:
    message = _base(subscriber.email, digest.subject or "Your AcademicHub digest",
                    digest.text or "", digest.html or "")
    _unsubscribe_headers(message, subscriber)
    message["List-Id"] = get_settings().list_id
    message["X-AcademicHub-Digest"] = str(digest.id)
    return message


def build_transactional(to: str, rendered, subscriber: Subscriber | None = None) -> EmailMessage:
    """Confirmation/welcome email from a compose.Rendered (subject, preheader, html, text)."""
    message = _base(to, rendered.subject, rendered.text, rendered.html)
    message["X-AcademicHub-Kind"] = "transactional"
    if subscriber is not None and subscriber.status == SubscriberStatus.ACTIVE:
        _unsubscribe_headers(message, subscriber)
    return message


def body_parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a message built here; empty strings for a missing part."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return (text.get_content() if text else "", html.get_content() if html else "")
