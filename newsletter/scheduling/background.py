"""In-process jobs for `newsletter serve` on embedded defaults: a scheduler tick thread.

Production runs the same tick from Celery beat; here a daemon thread calls it every few
minutes so a newcomer can click through everything without Redis.
"""

from __future__ import annotations

import logging
import threading

from newsletter.scheduling import pipeline

log = logging.getLogger(__name__)


def start_ticker(every_seconds: float = 300.0) -> threading.Thread:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            try:
                pipeline.send_due()
            except Exception:  # keep the web server alive; the next tick retries
                log.exception("scheduler tick failed")

    thread = threading.Thread(target=loop, name="academichub-ticker", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
