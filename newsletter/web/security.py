"""Web security: CSRF tokens, subscribe rate limits, security headers, a body-size cap.

CSRF is a signed double-submit: a random value in a cookie, and the same value signed
(per-purpose salt) in each form; a cross-site form can neither read the cookie nor forge
the signature. The one-click unsubscribe POST is exempt (RFC 8058: no cookie, no token).
Rate limits use `limits`, on Redis when REDIS_URL is set (shared by every web process),
in memory otherwise.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.core.config import get_settings

CSRF_COOKIE = "ah_csrf"
CSRF_FIELD = "csrf_token"
SUBSCRIBE_PER_IP = parse("20/hour")
SUBSCRIBE_PER_ADDRESS = parse("3/hour")
MAX_BODY = 64 * 1024  # forms and JSON here are tiny; refuse anything bigger early
MAX_WEBHOOK_BODY = 8 * 2**20  # SendGrid posts batches of up to thousands of events

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# A stored digest is our own email HTML: inline styles and remote images, never script.
DIGEST_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
            "frame-ancestors 'none'")


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
    """Subscribe limits per client IP and per (normalized) address."""

    def __init__(self, redis_url: str | None = None) -> None:
        storage = storage_from_string(redis_url) if redis_url else MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)

    def allow_ip(self, ip: str) -> bool:
        return self._hit(SUBSCRIBE_PER_IP, "subscribe-ip", ip)

    def allow_address(self, email: str) -> bool:
        return self._hit(SUBSCRIBE_PER_ADDRESS, "subscribe-address", email)

    def _hit(self, item, *keys: str) -> bool:
        try:
            return self.limiter.hit(item, "academichub", *keys)
        except Exception:  # noqa: BLE001  a Redis outage must not take subscribing down
            return True


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
                csp = own or (DOCS_CSP if path.startswith("/api/docs") else CSP).encode()
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),  # tokens live in our URLs
                    (b"x-content-type-options", b"nosniff"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if not path.startswith("/static/"):
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
