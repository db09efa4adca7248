"""Web security: CSRF tokens, subscribe rate limits, security headers, a body-size cap.

CSRF is a signed double-submit: a random value in a cookie, and the same value signed
(per-purpose salt) in each form; a cross-site form can neither read the cookie nor forge
the signature. The one-click unsubscribe POST is exempt (RFC 8058: no cookie, no token).
Rate limits use `limits`, on Redis when REDIS_URL is set (shared by every web process),
in memory otherwise. When Redis cannot be reached they fall back to the same limits kept in
this process (logged once per outage, retried every 30 s): never unlimited. Per client IP
(the address ProxyHeadersMiddleware settled on, see TRUSTED_PROXIES) and per mailbox
(`validation.mailbox_key`: plus-aliases and Gmail's dots are one inbox), per hour and day.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time

from itsdangerous import BadSignature, URLSafeSerializer
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.core.config import get_settings
from newsletter.subscribers.validation import MAILBOX_PER_DAY, MAILBOX_PER_HOUR, mailbox_key

log = logging.getLogger(__name__)
CSRF_COOKIE = "ah_csrf"
CSRF_FIELD = "csrf_token"
SUBSCRIBE_PER_IP = parse("20/hour")
ADMIN_FAILURES = parse("10/hour")  # wrong admin tokens per client, then even the right one waits
PER_MAILBOX = (parse(f"{MAILBOX_PER_HOUR}/hour"), parse(f"{MAILBOX_PER_DAY}/day"))
REDIS_RETRY_SECONDS = 30  # while Redis is down, how often a request tries it again
MAX_BODY = 64 * 1024  # forms and JSON here are tiny; refuse anything bigger early
MAX_WEBHOOK_BODY = 8 * 2**20  # SendGrid posts batches of up to thousands of events

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# A stored digest is our own email HTML: inline styles and remote images, never script.
DIGEST_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


# --- CSRF -------------------------------------------------------------------------------

def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(list(get_settings().signing_keys), salt="academichub.csrf")


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(24)


def csrf_token_for(secret: str) -> str:
    return _signer().dumps(secret)


def csrf_valid(cookie_value: str | None, form_value: object) -> bool:
    if not cookie_value or not isinstance(form_value, str) or len(form_value) > 500:
        return False
    try:
        signed = _signer().loads(form_value)
    except BadSignature:
        return False
    return isinstance(signed, str) and hmac.compare_digest(signed, cookie_value)


# --- rate limits ------------------------------------------------------------------------

class RateLimits:
    """Subscribe limits per client IP and per mailbox, shared through Redis when set."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared = MovingWindowRateLimiter(storage_from_string(
            redis_url, wrap_exceptions=True, socket_connect_timeout=1, socket_timeout=1,
        )) if redis_url else None
        self.retry_at = 0.0  # monotonic time before which Redis is not asked again
        self.down = False

    def allow_ip(self, ip: str) -> bool:
        return self._ask("hit", SUBSCRIBE_PER_IP, "subscribe-ip", ip)

    def allow_mailbox(self, email: str) -> bool:
        """One more email to this inbox? Counts the hour first, then the day."""
        key = mailbox_key(email)
        return all(self._ask("hit", item, "subscribe-mailbox", key) for item in PER_MAILBOX)

    def admin_locked(self, ip: str) -> bool:
        """Too many wrong admin tokens from this client lately (asking counts nothing)."""
        return not self._ask("test", ADMIN_FAILURES, "admin-failures", ip)

    def admin_failed(self, ip: str) -> None:
        self._ask("hit", ADMIN_FAILURES, "admin-failures", ip)

    def _ask(self, how: str, item: RateLimitItem, *keys: str) -> bool:
        """`hit` (count one, allowed?) or `test` (would one be allowed?), on Redis if it
        answers, else on this process's own counts."""
        if self.shared is not None and time.monotonic() >= self.retry_at:
            try:
                allowed = getattr(self.shared, how)(item, "academichub", *keys)
            except StorageError as error:
                self.retry_at = time.monotonic() + REDIS_RETRY_SECONDS
                if not self.down:
                    self.down = True
                    log.error("rate limits: Redis is unreachable (%s); limiting in this "
                              "process until it is back", error.storage_error)
            else:
                if self.down:
                    self.down = False
                    log.warning("rate limits: Redis is back; limits are shared again")
                return allowed
        return getattr(self.local, how)(item, "academichub", *keys)


# --- headers and body size (pure ASGI, so streaming and errors are covered too) ---------

class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = MAX_WEBHOOK_BODY if path.startswith("/webhooks/") else MAX_BODY
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await _too_large(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # chunked bodies without a length
                    raise BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"content-security-policy"]
                own = dict(message.get("headers", [])).get(b"content-security-policy")
                csp = own or CSP.encode()
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),  # tokens live in our URLs
                    (b"x-content-type-options", b"nosniff"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                # no-store unless the answer chose its own (the feed's revalidation, exports)
                if not path.startswith("/static/") and not any(
                        k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            await _too_large(send)


class BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"detail":"request body too large"}'
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
