"""The beat schedule as data: task, cadence, environment override, expiry.

Each entry's cadence can be overridden with `BEAT_<NAME>` (seconds, or `30s`, `5m`, `2h`),
e.g. `BEAT_DISPATCH_DUE=2m`. `expires` sits just under the period, so a backlog of ticks
never piles up behind a stopped worker.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    every: float  # seconds
    queue: str


TABLE = (
    Entry("dispatch-due", "workers.tasks.dispatch_due", 5 * 60, "compose"),
    Entry("harvest", "workers.tasks.harvest_all", 30 * 60, "harvest"),
    Entry("enrich", "workers.tasks.enrich_papers", 60 * 60, "harvest"),
    Entry("learn", "workers.tasks.learn", 30 * 60, "compose"),
    Entry("expire-unconfirmed", "workers.tasks.expire_unconfirmed", 6 * 3600, "compose"),
)


def parse_interval(text: str) -> float:
    """'300' | '30s' | '5m' | '2h' | '1d' -> seconds; anything else is a clear error."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"not an interval: {text!r} (use e.g. 300, 30s, 5m, 2h)")
    return float(match.group(1)) * UNITS[match.group(2)]


def env_name(entry: Entry) -> str:
    return "BEAT_" + entry.name.upper().replace("-", "_")


def schedule(environ: dict[str, str] | None = None) -> dict[str, dict]:
    from newsletter.core.config import get_settings

    environ = os.environ if environ is None else environ
    defaults = {"dispatch-due": get_settings().tick_minutes * 60}  # TICK_MINUTES
    result = {}
    for entry in TABLE:
        override = environ.get(env_name(entry))
        every = parse_interval(override) if override else defaults.get(entry.name, entry.every)
        result[entry.name] = {
            "task": entry.task,
            "schedule": every,
            "options": {"queue": entry.queue, "expires": max(every * 0.9, 1.0)},
        }
    return result
