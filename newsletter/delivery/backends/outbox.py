"""The default backend: email written to a local directory instead of sent.

Used by the embedded mode, the demo and most tests. Each message becomes
`<OUTBOX_DIR>/<timestamp>-<digest-N or recipient slug>.eml`, plus the same name `.html` to open
in a browser. The `.eml` appears all at once (written aside, then renamed), so it doubles as
the provider's record that `lookup` finds when a crash left a digest in 'sending'.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path

from newsletter.core.config import get_settings
from newsletter.core.time import utcnow
from newsletter.delivery.message import body_parts


class OutboxBackend:
    """<OUTBOX_DIR>/<timestamp>-<digest-N or slug>.eml and the same name .html."""

    name = "outbox"

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory or get_settings().outbox_dir)

    def send(self, message: EmailMessage, *, digest_id: int | None) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        if digest_id is not None:
            label = f"digest-{digest_id}"
        else:
            label = re.sub(r"[^a-z0-9]+", "-", str(message["To"]).lower()).strip("-")[:60]
        stem = f"{stamp}-{label}"
        (self.directory / f"{stem}.html").write_text(body_parts(message)[1], encoding="utf-8")
        partial = self.directory / f".{stem}.eml.tmp"  # the rename makes the .eml all-or-nothing
        partial.write_bytes(message.as_bytes())
        os.replace(partial, self.directory / f"{stem}.eml")
        return f"outbox:{stem}"

    def lookup(self, digest_id: int) -> str | None:
        found = sorted(self.directory.glob(f"*-digest-{digest_id}.eml"))
        return f"outbox:{found[-1].stem}" if found else None
