"""The SMTP backend: any relay (EMAIL_BACKEND=smtp), with an explicit timeout.

SMTP_SECURITY picks plain, STARTTLS or implicit TLS; SMTP_USERNAME enables AUTH. Replies are
classified here: 4xx and lost connections are transient (a lost connection ambiguous, the
relay may have queued it), 5xx permanent. SMTP keeps no record we can query, so `lookup`
never finds anything and a crash mid-send may duplicate (see the README's design notes).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from newsletter.core.config import get_settings
from newsletter.delivery.backends import PermanentError, TransientError


class SmtpBackend:
    """Any SMTP relay: security none | starttls | ssl, optional auth, explicit timeout."""

    name = "smtp"

    def __init__(self, *, host: str | None = None, port: int | None = None,
                 security: str | None = None, username: str | None = None,
                 password: str | None = None, context: ssl.SSLContext | None = None) -> None:
        settings = get_settings()
        self.host = host or settings.smtp_host
        self.port = port or settings.smtp_port
        self.security = security or settings.smtp_security
        self.username = username if username is not None else settings.smtp_username
        self.password = password if password is not None else settings.smtp_password
        self.context = context or ssl.create_default_context()
        self.timeout = settings.smtp_timeout

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=self.context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=self.context)
        return client

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise TransientError(f"recipient deferred: {codes}") from error
            raise PermanentError(f"recipient refused: {codes}") from error
        except smtplib.SMTPResponseException as error:
            if 400 <= error.smtp_code < 500:
                raise TransientError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
            raise PermanentError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
        except (smtplib.SMTPServerDisconnected, TimeoutError) as error:
            raise TransientError(f"SMTP connection lost: {error}", ambiguous=True) from error
        except (OSError, smtplib.SMTPException) as error:
            raise TransientError(f"SMTP unavailable: {error}") from error
        return str(message["Message-ID"])

    def lookup(self, digest_id: int) -> str | None:
        return None  # SMTP keeps no queryable record
