"""In-process jobs for `newsletter serve` on embedded defaults: a scheduler tick thread.

Production runs the same tick (and the Crossref enrichment) from Celery beat; here a daemon
thread calls them every few minutes so a newcomer can click through everything without Redis.
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
            _enrich()

    thread = threading.Thread(target=loop, name="academichub-ticker", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread


def _enrich() -> None:
    """Crossref's abstracts for the journal papers the tick's harvests brought (cached per
    DOI, so a tick with nothing new asks nothing)."""
    from newsletter.core.db import session_scope
    from newsletter.harvest import crossref

    try:
        with session_scope() as session:
            crossref.enrich_safely(session)
    except Exception:  # noqa: BLE001  (no database now: the next tick tries again)
        log.exception("Crossref enrichment failed")
