"""The LLM provider seam: a small Protocol and its Anthropic (Claude) adapter.

Everything the synthesis stage needs from a model is "call this tool, give me its input":
structured output through a forced tool, so we never parse prose. Errors are classified
once, here: `LlmError.transient` (429, 529, 5xx, timeouts, connection) is retried by our own
policy with backoff and a capped retry-after (the SDK's retries are off: it honours
retry-after without a cap); everything else (other 4xx, refusals, truncation, malformed
answers) is permanent and the caller falls back to the offline writer. A small circuit
breaker stops calling during an outage so a thousand digests do not each wait out retries.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import anthropic
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from newsletter.core.config import Settings, get_settings

log = logging.getLogger(__name__)


class LlmError(Exception):
    """A failed call; `reason` is short and goes on the digest (`fallback_reason`)."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0


@dataclass
class ToolCall:
    """One tool request: the fixed part (system, tool) is what prompt caching reuses."""

    system: str
    user: str
    tool: dict[str, Any]
    max_tokens: int
    # repair turn: (previous tool input, validation problems) -> a tool_result with is_error
    repair: tuple[dict[str, Any], str] | None = None


@dataclass
class ToolAnswer:
    data: dict[str, Any]
    usage: Usage = field(default_factory=Usage)
    latency_ms: int = 0
    model: str = ""


class LlmProvider(Protocol):
    model: str

    def call_tool(self, call: ToolCall) -> ToolAnswer: ...

    def submit_batch(self, calls: dict[str, ToolCall]) -> str: ...

    def batch_done(self, batch_id: str) -> bool: ...

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, ToolAnswer | LlmError]]: ...


TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def classify(error: Exception) -> LlmError:
    """Map an SDK exception to transient (retry) or permanent (fall back)."""
    if isinstance(error, LlmError):
        return error
    if isinstance(error, anthropic.APITimeoutError):
        return LlmError("timeout", transient=True)
    if isinstance(error, anthropic.APIConnectionError):
        return LlmError("connection error", transient=True)
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        kind = error.type or "error"
        transient = status in TRANSIENT_STATUS or status >= 500
        return LlmError(f"http {status} {kind}", transient=transient,
                        retry_after=_retry_after(error.response.headers))
    # malformed bodies (JSON decode, schema validation) and anything unforeseen
    return LlmError(f"malformed response ({type(error).__name__})")


def _retry_after(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None  # an HTTP date: fall back to our own backoff
    return None


def _answer(message: Any, model: str, latency_ms: int, tool_name: str) -> ToolAnswer:
    """Turn a Message into the tool's input, or raise a permanent LlmError."""
    if message.stop_reason == "refusal":
        raise LlmError("refusal")
    if message.stop_reason in ("max_tokens", "model_context_window_exceeded"):
        raise LlmError("truncated (max_tokens)")
    blocks = [b for b in message.content if getattr(b, "type", "") == "tool_use"
              and getattr(b, "name", "") == tool_name]
    if not blocks or not isinstance(blocks[0].input, dict):
        raise LlmError("malformed tool output (no tool_use)")
    u = message.usage
    usage = Usage(u.input_tokens, u.output_tokens, u.cache_creation_input_tokens or 0,
                  u.cache_read_input_tokens or 0)
    return ToolAnswer(blocks[0].input, usage, latency_ms, getattr(message, "model", model))


class AnthropicProvider:
    """Claude through the official SDK; `base_url` points tests at a local fake server."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = settings.llm_model
        self.client = anthropic.Anthropic(
            api_key=settings.anthropic_api_key, base_url=settings.anthropic_base_url,
            timeout=settings.llm_timeout, max_retries=0,
        )

    def params(self, call: ToolCall) -> dict[str, Any]:
        # cache_control on the last system block caches tools + system: the fixed instructions
        messages: list[dict[str, Any]] = [{"role": "user", "content": call.user}]
        if call.repair:
            previous, problems = call.repair
            tool_id = "toolu_repair_" + hashlib.sha1(problems.encode()).hexdigest()[:12]
            messages += [
                {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id,
                                                   "name": call.tool["name"], "input": previous}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                              "is_error": True, "content": problems}]},
            ]
        return {
            "model": self.model,
            "max_tokens": call.max_tokens,
            "system": [{"type": "text", "text": call.system,
                        "cache_control": {"type": "ephemeral"}}],
            "tools": [call.tool],
            "tool_choice": {"type": "tool", "name": call.tool["name"]},
            "messages": messages,
        }

    def call_tool(self, call: ToolCall) -> ToolAnswer:
        breaker.check(self.settings)
        try:
            answer = with_retries(self.settings, lambda: self._once(call))
        except LlmError as error:
            breaker.record(self.settings, ok=not error.transient)
            raise
        breaker.record(self.settings, ok=True)
        return answer

    def _once(self, call: ToolCall) -> ToolAnswer:
        started = time.monotonic()
        try:
            message = self.client.messages.create(**self.params(call))
        except Exception as error:  # classified once, here
            raise classify(error) from error
        latency = int((time.monotonic() - started) * 1000)
        return _answer(message, self.model, latency, call.tool["name"])

    def submit_batch(self, calls: dict[str, ToolCall]) -> str:
        requests = [{"custom_id": cid, "params": self.params(c)} for cid, c in calls.items()]
        batch = with_retries(self.settings, lambda: self._guard(
            self.client.messages.batches.create, requests=requests))
        return batch.id

    def batch_done(self, batch_id: str) -> bool:
        batch = with_retries(self.settings, lambda: self._guard(
            self.client.messages.batches.retrieve, batch_id))
        return batch.processing_status == "ended"

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, ToolAnswer | LlmError]]:
        # the tool name is per request; all our batch requests share one tool
        lines = with_retries(self.settings, lambda: self._guard(
            lambda: list(self.client.messages.batches.results(batch_id))))
        for line in lines:
            result = line.result
            if result.type != "succeeded":
                yield line.custom_id, LlmError(f"batch {result.type}")
                continue
            message = result.message
            names = [b.name for b in message.content if getattr(b, "type", "") == "tool_use"]
            try:
                yield line.custom_id, _answer(message, self.model, 0, names[0] if names else "")
            except LlmError as error:
                yield line.custom_id, error

    @staticmethod
    def _guard(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            raise classify(error) from error


def with_retries(settings: Settings, fn):
    """Retry transient errors: exponential backoff, or the server's retry-after, capped."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = min(settings.llm_backoff_max,
                      settings.llm_backoff_base * 2 ** (state.attempt_number - 1))
        if isinstance(error, LlmError) and error.retry_after is not None:
            return min(error.retry_after, settings.llm_retry_after_cap)
        return backoff

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning("LLM call failed (%s); retrying in %.2f s", error, pause)

    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, LlmError) and e.transient),
        stop=stop_after_attempt(settings.llm_max_retries + 1),
        wait=wait, before_sleep=before_sleep, reraise=True,
    )
    return retrying(fn)


class Breaker:
    """After N consecutive transient failures, refuse calls for a cool-down period."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures = 0
        self.open_until = 0.0

    def check(self, settings: Settings) -> None:
        with self.lock:
            if time.monotonic() < self.open_until:
                raise LlmError("provider unavailable (circuit open)")

    def record(self, settings: Settings, *, ok: bool) -> None:
        with self.lock:
            if ok:
                self.failures = 0
                return
            self.failures += 1
            if self.failures >= settings.llm_breaker_failures:
                self.open_until = time.monotonic() + settings.llm_breaker_seconds
                self.failures = 0

    def reset(self) -> None:
        with self.lock:
            self.failures, self.open_until = 0, 0.0


breaker = Breaker()


_providers: dict[int, tuple[Settings, AnthropicProvider]] = {}


def get_provider(settings: Settings | None = None) -> LlmProvider | None:
    """The configured provider, or None when no key is set (the offline writer runs)."""
    settings = settings or get_settings()
    if not settings.llm_enabled:
        return None
    cached = _providers.get(id(settings))
    if cached is None or cached[0] is not settings:
        if len(_providers) > 8:
            _providers.clear()
        cached = _providers[id(settings)] = (settings, AnthropicProvider(settings))
    return cached[1]


def cost_usd(settings: Settings, model: str, usage: Usage, *, batch: bool = False) -> float:
    """Estimated cost from the price table (USD per million tokens)."""
    prices = settings.llm_prices.get(model) or settings.llm_prices.get("default") or {}
    total = (usage.input_tokens * prices.get("input", 0)
             + usage.output_tokens * prices.get("output", 0)
             + usage.cache_creation_tokens * prices.get("cache_write", 0)
             + usage.cache_read_tokens * prices.get("cache_read", 0)) / 1_000_000
    return total * (settings.llm_batch_discount if batch else 1.0)
