"""A fake Anthropic API: a real threaded HTTP server on 127.0.0.1 for the real SDK.

Speaks the Messages API (`POST /v1/messages`) and Message Batches (create, retrieve,
results as JSONL in shuffled order). It checks what the real API would refuse: the key
(`Authorization: Bearer` or `x-api-key`), the `anthropic-version` header, the model,
`max_tokens`, the tool schema and `tool_choice`. Answers are scripted per call
(`fake.script(Answer.status(429, retry_after=5), ...)`), otherwise a valid `tool_use` is made
up from the request (cards counted from `<paper n=...>`, language from the request).
Every request is recorded and tokens are counted (about 4 characters per token, one per
CJK character), with prompt caching of the tools + system prefix once it is long enough.
Used by tests/test_synthesize.py and bench/llm_cost.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
PAPER = re.compile(r'<paper n="(\d+)">\s*Title: ([^\n]*)')
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def count_tokens(text: str) -> int:
    cjk = len(CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


@dataclass
class Answer:
    """One scripted answer: kind is tool | status | malformed | refusal | truncated | slow."""

    kind: str
    status: int = 200
    data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def tool(cls, data: dict[str, Any]) -> Answer:
        return cls("tool", data=data)

    @classmethod
    def status_error(cls, status: int, retry_after: float | None = None) -> Answer:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return cls("status", status=status, headers=headers)


    @classmethod
    def malformed(cls) -> Answer:
        return cls("malformed")

    @classmethod
    def refusal(cls) -> Answer:
        return cls("refusal")

    @classmethod
    def truncated(cls) -> Answer:
        return cls("truncated")

    @classmethod
    def slow(cls, seconds: float) -> Answer:
        return cls("slow", delay=seconds)


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


MODEL = {"type": "model", "id": "claude-sonnet-4-6", "display_name": "Claude Sonnet 4.6",
         "created_at": "2026-02-17T00:00:00Z"}


class FakeAnthropic:
    def __init__(self, *, api_key: str = "test-key", min_cache_tokens: int = 1024,
                 batch_polls: int = 1, seed: int = 0):
        self.api_key = api_key
        self.min_cache_tokens = min_cache_tokens
        self.batch_polls = batch_polls  # retrieves that still say in_progress
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.queue: deque[Answer] = deque()
        self.batch_answers: dict[str, Answer] = {}  # custom_id -> scripted answer
        self.requests: list[dict[str, Any]] = []
        self.rejections: list[str] = []
        self.cache: set[str] = set()
        self.batches: dict[str, dict[str, Any]] = {}
        self.totals = {"messages": 0, "batch_requests": 0, "input_tokens": 0,
                       "output_tokens": 0, "cache_creation_input_tokens": 0,
                       "cache_read_input_tokens": 0}
        self.ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, *answers: Answer) -> None:
        with self.lock:
            self.queue.extend(answers)

    def messages(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/v1/messages"]

    # -- protocol -----------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake.lock:
                    fake.requests.append({"method": method, "path": self.path,
                                          "headers": headers, "body": body, "time": time.time()})
                status, out_headers, payload, delay = fake.route(method, self.path, headers, body)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in out_headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): as a real server would see it

        return Handler

    def route(self, method, path, headers, body) -> tuple[int, dict, bytes, float]:
        problem = self._check_headers(headers)
        if problem:
            return self._error(401 if "key" in problem else 400, problem)
        if method == "POST" and path == "/v1/messages":
            return self._message(body)
        if method == "POST" and path == "/v1/messages/batches":
            return self._create_batch(body)
        if method == "GET" and path.split("?")[0] == "/v1/models":  # `newsletter doctor`
            return self._json(200, {"data": [MODEL], "has_more": False,
                                    "first_id": MODEL["id"], "last_id": MODEL["id"]})
        found = re.fullmatch(r"/v1/messages/batches/([\w-]+)(/results)?", path)
        if method == "GET" and found:
            batch = self.batches.get(found.group(1))
            if batch is None:
                return self._error(404, "no such batch")
            if found.group(2):
                return self._results(batch)
            return self._json(200, self._batch_view(batch, poll=True))
        return self._error(404, f"unknown route {method} {path}")

    def _check_headers(self, headers: dict[str, str]) -> str | None:
        bearer = headers.get("authorization", "")
        if bearer != f"Bearer {self.api_key}" and headers.get("x-api-key") != self.api_key:
            return self._reject("invalid x-api-key / Authorization Bearer key")
        if not VERSION.match(headers.get("anthropic-version", "")):
            return self._reject("anthropic-version header missing or malformed")
        return None

    def _reject(self, message: str) -> str:
        with self.lock:
            self.rejections.append(message)
        return message

    def check_params(self, body: Any) -> str | None:
        """What the real API would refuse with a 400; None when the request is valid."""
        if not isinstance(body, dict):
            return "body must be a JSON object"
        if not str(body.get("model", "")).startswith("claude-"):
            return f"model: unknown model {body.get('model')!r}"
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or not 1 <= max_tokens <= 64000:
            return "max_tokens: required integer 1-64000"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
            return "messages: must start with a user turn"
        tools = body.get("tools") or []
        names = []
        for tool in tools:
            schema = tool.get("input_schema")
            if not TOOL_NAME.match(str(tool.get("name", ""))) or not isinstance(schema, dict) \
                    or schema.get("type") != "object":
                return "tools: each tool needs a name and an input_schema of type object"
            names.append(tool["name"])
        choice = body.get("tool_choice")
        if choice and choice.get("type") == "tool" and choice.get("name") not in names:
            return "tool_choice: names a tool that was not given"
        return None

    def _message(self, body: Any) -> tuple[int, dict, bytes, float]:
        problem = self.check_params(body)
        if problem:
            return self._error(400, self._reject(problem))
        with self.lock:
            answer = self.queue.popleft() if self.queue else Answer("tool")
            self.totals["messages"] += 1
        if answer.kind == "status":
            return self._error(answer.status, "scripted failure", answer.headers)
        if answer.kind == "malformed":
            return 200, {"content-type": "application/json"}, b'{"id": "msg_1", "content": [', 0
        return self._json(200, self.make_message(body, answer), delay=answer.delay)

    def make_message(self, body: dict[str, Any], answer: Answer) -> dict[str, Any]:
        tool = (body.get("tools") or [{"name": "none"}])[0]["name"]
        stop, content = "tool_use", []
        if answer.kind == "refusal":
            stop, content = "refusal", [{"type": "text", "text": "I can't help with that."}]
        elif answer.kind == "truncated":
            data = {"theme": "Partial"} if tool == "write_briefing" else {"items": []}
            stop = "max_tokens"
            content = [{"type": "tool_use", "id": f"toolu_{next(self.ids)}", "name": tool,
                        "input": data}]
        else:
            data = answer.data if answer.data is not None else self.default_input(tool, body)
            content = [{"type": "tool_use", "id": f"toolu_{next(self.ids)}", "name": tool,
                        "input": data}]
        usage = self.usage(body, content)
        return {"id": f"msg_{next(self.ids)}", "type": "message", "role": "assistant",
                "model": body["model"], "content": content, "stop_reason": stop,
                "stop_sequence": None, "usage": usage}

    def usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        system = body.get("system") or []
        if isinstance(system, str):
            system = [{"type": "text", "text": system}]
        prefix_parts = [json.dumps(body.get("tools") or [], sort_keys=True)]
        cached_upto = None
        for block in system:
            prefix_parts.append(block.get("text", ""))
            if block.get("cache_control"):
                cached_upto = len(prefix_parts)
        prefix = prefix_parts[:cached_upto] if cached_upto else []
        prefix_tokens = sum(count_tokens(p) for p in prefix)
        total = sum(count_tokens(p) for p in prefix_parts) + count_tokens(
            json.dumps(body.get("messages"), ensure_ascii=False))
        created = read = 0
        if prefix and prefix_tokens >= self.min_cache_tokens:
            key = hashlib.sha256((body["model"] + "\0".join(prefix)).encode()).hexdigest()
            with self.lock:
                hit = key in self.cache
                self.cache.add(key)
            read, created = (prefix_tokens, 0) if hit else (0, prefix_tokens)
        output = sum(count_tokens(json.dumps(c.get("input", c.get("text")), ensure_ascii=False))
                     for c in content)
        usage = {"input_tokens": total - created - read, "output_tokens": output,
                 "cache_creation_input_tokens": created, "cache_read_input_tokens": read}
        with self.lock:
            for name, value in usage.items():
                self.totals[name] += value
        return usage

    def default_input(self, tool: str, body: dict[str, Any]) -> dict[str, Any]:
        """A valid answer made up from the request: every card cited, in its language."""
        first = body["messages"][0]["content"]
        first = first if isinstance(first, str) else json.dumps(first, ensure_ascii=False)
        zh = "Simplified Chinese" in first
        cards = [(int(n), title) for n, title in PAPER.findall(first)] or [(1, "a paper")]
        if tool == "write_summaries":
            return {"items": [{"n": n, "summary": (
                f"第{n}篇论文提出了一种新方法，并报告了相对基线的明显改进。" if zh else
                f"Summary of card {n}: {' '.join(title.split()[:8])} reports a clear gain over "
                "its baselines.")} for n, title in cards]}
        groups = [cards[i:i + 4] for i in range(0, len(cards), 4)][:4]
        paragraphs = []
        for group in groups:
            cites = "".join(f"[{n}]" for n, _ in group)
            paragraphs.append(
                f"这些论文{cites}研究了相互关联的问题，其中一项工作报告了明显的改进，另一项对这一结论提出了限定。"
                if zh else
                f"These papers {cites} study connected questions: one reports a clear gain, "
                "another qualifies it, and together they map what is still open.")
        return {"theme": "今日研究综述" if zh else " ".join(cards[0][1].split()[:6]) or "Today",
                "preheader": "今天的论文在方法上相互呼应。" if zh else
                "Today's papers answer each other across methods and fields.",
                "paragraphs": paragraphs}

    # -- batches ------------------------------------------------------------------------------

    def _create_batch(self, body: Any) -> tuple[int, dict, bytes, float]:
        requests = (body or {}).get("requests")
        if not isinstance(requests, list) or not requests:
            return self._error(400, self._reject("requests: a non-empty list is required"))
        ids = [r.get("custom_id", "") for r in requests]
        if len(set(ids)) != len(ids) or not all(CUSTOM_ID.match(str(i)) for i in ids):
            return self._error(400, self._reject("custom_id: unique, [a-zA-Z0-9_-]{1,64}"))
        results = []
        for request in requests:
            params, cid = request.get("params"), request["custom_id"]
            problem = self.check_params(params)
            answer = self.batch_answers.get(cid, Answer("tool"))
            if problem or answer.kind in ("status", "malformed"):
                error = {"type": "invalid_request_error", "message": problem or "scripted"}
                result = {"type": "errored", "error": {"type": "error", "error": error}}
            else:
                result = {"type": "succeeded", "message": self.make_message(params, answer)}
            results.append({"custom_id": cid, "result": result})
        with self.lock:
            self.totals["batch_requests"] += len(requests)
            batch_id = f"msgbatch_{next(self.ids):06d}"
            self.batches[batch_id] = {"id": batch_id, "results": results,
                                      "polls_left": self.batch_polls,
                                      "created_at": dt.datetime.now(dt.UTC)}
        return self._json(200, self._batch_view(self.batches[batch_id], poll=False))

    def _batch_view(self, batch: dict[str, Any], *, poll: bool) -> dict[str, Any]:
        with self.lock:
            if poll and batch["polls_left"] > 0:
                batch["polls_left"] -= 1
                ended = False
            else:
                ended = poll and batch["polls_left"] <= 0
        results = batch["results"]
        counts = {"processing": 0 if ended else len(results), "succeeded": 0, "errored": 0,
                  "canceled": 0, "expired": 0}
        if ended:
            for line in results:
                counts[line["result"]["type"]] += 1
        created = batch["created_at"]
        return {
            "id": batch["id"], "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": created.isoformat(),
            "expires_at": (created + dt.timedelta(hours=24)).isoformat(),
            "ended_at": dt.datetime.now(dt.UTC).isoformat() if ended else None,
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch['id']}/results"
            if ended else None,
        }

    def _results(self, batch: dict[str, Any]) -> tuple[int, dict, bytes, float]:
        lines = list(batch["results"])
        self.random.shuffle(lines)  # the real API promises no order
        payload = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return 200, {"content-type": "application/binary"}, payload.encode(), 0

    # -- helpers ------------------------------------------------------------------------------

    def _json(self, status: int, data: Any, delay: float = 0.0):
        payload = json.dumps(data, ensure_ascii=False).encode()
        return status, {"content-type": "application/json",
                        "request-id": f"req_{next(self.ids)}"}, payload, delay

    def _error(self, status: int, message: str, headers: dict | None = None):
        status_, h, payload, _ = self._json(status, {"type": "error", "error": {
            "type": ERROR_TYPES.get(status, "api_error"), "message": message}})
        return status_, {**h, **(headers or {})}, payload, 0
