"""The SendGrid backend (EMAIL_BACKEND=sendgrid): v3 Mail Send through the official SDK.

The SDK has no timeout and no retry of its own: we set the timeout (SENDGRID_TIMEOUT) and
classify here, once: 429 and 5xx are transient, honouring `X-RateLimit-Reset`; a refused
connection is transient and unambiguous (nothing was sent); a timeout or a lost response is
transient and ambiguous (SendGrid may have accepted it); any other 4xx is permanent. The
digest id travels as a custom arg (ids only, never addresses), which is how webhook events
and the Email Activity lookup find a digest again when reconciling.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
from email.message import EmailMessage
from email.utils import parseaddr

import python_http_client
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Header, Mail, To

from newsletter.core.config import get_settings
from newsletter.delivery.backends import PermanentError, TransientError
from newsletter.delivery.message import body_parts

# The headers of our own message that SendGrid must carry over (it builds its own MIME).
FORWARDED = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "X-AcademicHub-Digest")


class SendGridBackend:
    """SendGrid v3 Mail Send through the real SDK, with a timeout (the SDK has none)."""

    name = "sendgrid"

    def __init__(self, *, api_key: str | None = None, host: str | None = None,
                 timeout: float | None = None) -> None:
        settings = get_settings()
        self.client = SendGridAPIClient(api_key or settings.sendgrid_api_key,
                                        host=host or settings.sendgrid_api_host)
        self.timeout = timeout or settings.sendgrid_timeout
        self.client.client.timeout = self.timeout

    def payload(self, message: EmailMessage, digest_id: int | None) -> Mail:
        sender_name, sender = parseaddr(str(message["From"]))
        text, html = body_parts(message)
        mail = Mail(from_email=From(sender, sender_name or None),
                    to_emails=To(parseaddr(str(message["To"]))[1]),
                    subject=str(message["Subject"]), plain_text_content=text or " ",
                    html_content=html or None)  # the helper puts text/plain first
        mail.header = [Header(name, str(message[name])) for name in FORWARDED if message[name]]
        if digest_id is not None:
            mail.custom_arg = CustomArg("digest_id", str(digest_id))  # ids only, never addresses
        return mail

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        try:
            response = self.client.send(self.payload(message, digest_id))
        except python_http_client.exceptions.HTTPError as error:
            raise _classify(error) from error
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise TransientError(f"SendGrid: {error!r}", ambiguous=True) from error
        except urllib.error.URLError as error:  # could not connect: nothing was sent
            ambiguous = isinstance(error.reason, TimeoutError)
            raise TransientError(f"SendGrid: {error.reason}", ambiguous=ambiguous) from error
        return response.headers.get("X-Message-Id") or f"sendgrid:{digest_id}"

    def lookup(self, digest_id: int) -> str | None:
        """Email Activity API (needs the add-on; 4xx means we cannot tell)."""
        try:
            response = self.client.client.messages.get(query_params={
                "query": f"unique_args['digest_id']=\"{digest_id}\"", "limit": 1})
        except python_http_client.exceptions.HTTPError as error:
            if error.status_code == 429 or error.status_code >= 500:
                raise _classify(error) from error
            return None
        except (OSError, http.client.HTTPException) as error:
            raise TransientError(f"SendGrid lookup: {error!r}") from error
        messages = json.loads(response.body or b"{}").get("messages") or []
        if not messages:
            return None
        return str(messages[0].get("msg_id", "")).split(".")[0] or None


def _classify(error) -> Exception:
    status = int(error.status_code)
    body = error.body.decode("utf-8", "replace")[:300] if isinstance(error.body, bytes) else ""
    if status == 429 or status >= 500:
        headers = error.headers or {}
        reset = headers.get("X-RateLimit-Reset") or headers.get("Retry-After")
        retry_after = None
        if reset and str(reset).isdigit():  # a Unix time, or a number of seconds
            value = float(reset)
            retry_after = max(0.0, value - time.time()) if value > 1e9 else value
        return TransientError(f"SendGrid {status}: {body}", retry_after=retry_after)
    return PermanentError(f"SendGrid {status}: {body}")
