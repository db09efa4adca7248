"""A fake SendGrid v3 API on 127.0.0.1, spoken to by the real `sendgrid` SDK.

POST /v3/mail/send checks the Bearer key, the JSON shape and that text/plain comes before
text/html, then answers 202 with X-Message-Id and logs the message. Faults are scripted,
one per request, in order: `fake.script(429, 500, "hang", 202)`; 429 carries
X-RateLimit-Reset. "hang" accepts (logs) the message and then stalls the answer past the
client's timeout, the ambiguous case; "hang-reject" stalls without accepting. GET
/v3/messages?query=unique_args['digest_id']="N" is the Email Activity lookup; GET /v3/scopes
lists what the key may do (`fake.scopes`).

Run standalone (for the benchmark and fault tests across processes):
`python tests/fake_sendgrid.py --log PATH` prints the base URL, appends accepted
messages to PATH as JSON lines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlparse

API_KEY = "SG.fake-key-for-tests"


class FakeSendGrid:
    def __init__(self, *, api_key: str = API_KEY, hang_seconds: float = 5.0,
                 log_path: Path | None = None, delay: float = 0.0) -> None:
        self.api_key = api_key
        self.hang_seconds = hang_seconds
        self.delay = delay  # per-request latency, to widen the window for crash tests
        self.log_path = log_path
        self.scopes = ["mail.send", "messages.read"]  # GET /v3/scopes
        self.on_request = None  # called (in the server thread) as each send request arrives
        self.accepted: list[dict] = []
        self.requests: list[dict] = []  # every request, accepted or not: (status, to)
        self._script: deque = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def script(self, *steps) -> None:
        """Queue answers for the next requests: status codes, "hang" or "hang-reject"."""
        with self._lock:
            self._script.extend(steps)

    def sent_to(self, email: str) -> list[dict]:
        return [m for m in self.accepted if email in m["to"]]

    def _next_step(self):
        with self._lock:
            return self._script.popleft() if self._script else 202

    def _accept(self, body: dict) -> str:
        message_id = f"fake{next(self._ids):06d}"
        record = {
            "message_id": message_id,
            "to": [t["email"] for p in body["personalizations"] for t in p["to"]],
            "subject": body.get("subject"),
            "custom_args": body.get("custom_args", {}),
            "headers": body.get("headers", {}),
            "content_types": [c["type"] for c in body["content"]],
            "text": body["content"][0]["value"],
            "time": time.time(),
        }
        with self._lock:
            self.accepted.append(record)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
        return message_id

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _answer(self, status: int, body: dict | None = None, headers=None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, headers=None) -> None:
                self._answer(status, {"errors": [{"message": message}]}, headers)

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._error(401, "authorization required")
                parsed = urlparse(self.path)
                if parsed.path == "/v3/scopes":  # what the key may do (`newsletter doctor`)
                    return self._answer(200, {"scopes": list(fake.scopes)})
                if parsed.path != "/v3/messages":
                    return self._error(404, "not found")
                query = parse_qs(parsed.query).get("query", [""])[0]
                wanted = re.search(r"digest_id'\]=\"(\d+)\"", query)
                with fake._lock:
                    found = [m for m in fake.accepted
                             if wanted and m["custom_args"].get("digest_id") == wanted.group(1)]
                self._answer(200, {"messages": [
                    {"msg_id": f"{m['message_id']}.filter0001", "to_email": m["to"][0],
                     "status": "delivered"} for m in found[:1]]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/v3/mail/send":
                    return self._error(404, "not found")
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._error(401, "The provided authorization grant is invalid")
                try:
                    body = json.loads(raw)
                    problem = shape_problem(body)
                except ValueError:
                    problem = "body is not JSON"
                step = fake._next_step()
                if fake.on_request is not None:
                    fake.on_request(body if not problem else None)
                with fake._lock:
                    fake.requests.append({"step": step, "problem": problem})
                if problem:
                    return self._error(400, problem)
                if fake.delay:
                    time.sleep(fake.delay)
                if step == 429:
                    reset = str(int(time.time()) + 1)
                    return self._error(429, "too many requests", {"X-RateLimit-Reset": reset})
                if isinstance(step, int) and step != 202:
                    return self._error(step, f"scripted {step}")
                if step in ("hang", "hang-reject"):
                    if step == "hang":
                        fake._accept(body)  # accepted, but the answer never arrives in time
                    fake._release.wait(fake.hang_seconds)
                    self.close_connection = True
                    return None
                message_id = fake._accept(body)
                self._answer(202, None, {"X-Message-Id": message_id})

        return Handler


def shape_problem(body: dict) -> str | None:
    """What SendGrid would refuse with a 400, in the parts we rely on."""
    if not isinstance(body, dict):
        return "body must be an object"
    people = body.get("personalizations")
    if not people or not all(p.get("to") and all("@" in t.get("email", "") for t in p["to"])
                             for p in people):
        return "personalizations[].to[].email is required"
    if "@" not in (body.get("from") or {}).get("email", ""):
        return "from.email is required"
    if not body.get("subject"):
        return "subject is required"
    types = [c.get("type") for c in body.get("content") or []]
    if not types or types[0] != "text/plain" or ("text/html" in types
                                                  and types.index("text/html") < 1):
        return "content: text/plain must come first, then text/html"
    if any(not isinstance(v, str) for v in (body.get("custom_args") or {}).values()):
        return "custom_args values must be strings"
    if any("@" in v for v in (body.get("custom_args") or {}).values()):
        return "custom_args must not carry addresses (our rule)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    with FakeSendGrid(log_path=args.log, delay=args.delay) as fake:
        print(fake.url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
