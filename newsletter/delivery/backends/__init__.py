"""The one seam to email providers: the `EmailBackend` protocol, its two errors, the factory.

Every backend (`outbox`, `smtp`, `sendgrid`; chosen by EMAIL_BACKEND) classifies its own
failures once, here at the seam, into the two errors below, so the delivery state machine
(`newsletter.delivery.state`) never looks at an HTTP status or an SMTP code:
- TransientError: try again later (`retry_after` seconds if the provider said so);
  `ambiguous` when the provider may have accepted the message (timeout, lost response), so
  the next run reconciles before it resends.
- PermanentError: the provider refused this message for good; recorded, never retried.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from newsletter.core.config import get_settings

__all__ = ["EmailBackend", "PermanentError", "TransientError", "get_backend",
           "send_transactional"]


class TransientError(Exception):
    """Retry later. `ambiguous`: the provider may have accepted it (timeout, lost response)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class PermanentError(Exception):
    """The provider refused this message for good (bad address, bad request)."""


class EmailBackend(Protocol):
    name: str

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        """Hand the message over; return the provider's message id."""

    def lookup(self, digest_id: int) -> str | None:
        """The provider's id for a digest it already accepted, None if unknown (reconcile)."""


def get_backend() -> EmailBackend:
    """The backend EMAIL_BACKEND names (a new one per call: workers keep theirs)."""
    # Imported here: the backends import the errors above, and a process that writes to the
    # outbox never loads the SendGrid SDK.
    backend = get_settings().email_backend
    if backend == "sendgrid":
        from newsletter.delivery.backends.sendgrid import SendGridBackend

        return SendGridBackend()
    if backend == "smtp":
        from newsletter.delivery.backends.smtp import SmtpBackend

        return SmtpBackend()
    from newsletter.delivery.backends.outbox import OutboxBackend

    return OutboxBackend()


def send_transactional(message: EmailMessage, *, backend: EmailBackend | None = None) -> str:
    """Confirmation and welcome emails: no digest, no claim; errors go to the caller."""
    return (backend or get_backend()).send(message, digest_id=None)
