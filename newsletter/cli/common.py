"""What every command shares: the two consoles, one-line failures, dates and subscribers
given on the command line."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console

from newsletter.core.time import parse_iso

Opt = typer.Option
out = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2):
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def parse_when(value: str | None, what: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        fail(f"{what}: not an ISO date/time: {value!r} (e.g. 2026-11-26T07:05:00+08:00)")


def find_subscriber(session, email: str):
    from sqlmodel import select

    from newsletter.core.models import Subscriber

    subscriber = session.exec(
        select(Subscriber).where(Subscriber.email == email.strip().lower())).first()
    if subscriber is None:
        fail(f"no subscriber with the address {email!r} (add one with `newsletter subscribe`)")
    return subscriber
