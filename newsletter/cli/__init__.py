"""`newsletter`: the operator's commands (typer + rich). Each calls the same plain functions
as the Celery tasks, so what works here works in production.

Names and flags are a contract (the README's CLI table); outside tools depend on them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from newsletter.cli import doctor, feeds
from newsletter.cli.common import Opt, err, fail, find_subscriber, out, parse_when
from newsletter.core.config import ConfigError, get_settings, mask
from newsletter.core.time import local_now


class Commands(TyperGroup):
    """Every command's database failure (unreachable, refused, no schema) is one line on
    stderr and exit status 1, never a traceback; a password in a URL is masked."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as error:
            cause = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
            missing = "no such table" in cause[0] or (  # SQLite, PostgreSQL: no schema yet
                cause[0].startswith("relation ") and "does not exist" in cause[0])
            hint = "; run: newsletter db upgrade" if missing else ""
            err.print(f"[red]database error:[/red] {mask(cause[0])}{hint}", highlight=False)
            raise typer.Exit(1) from None


app = typer.Typer(help="AcademicHub: a daily research digest by email.", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=Commands)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(feeds.harvest)
app.command()(feeds.enrich)
app.command("doctor")(doctor.doctor)
app.add_typer(feeds.sources_app, name="sources")


@app.callback()
def main(ctx: typer.Context,
         verbose: Annotated[bool, Opt("--verbose", "-v", help="Log what happens.")] = False):
    try:
        get_settings()
    except ConfigError as error:
        if ctx.invoked_subcommand == "doctor":  # the doctor reports it, among its checks
            logging.basicConfig(level=logging.WARNING)
            return
        err.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(2) from None
    from newsletter.core import logs

    logs.configure(logging.INFO if verbose else logging.WARNING)


@db_app.command("upgrade")
def db_upgrade():
    """Apply the Alembic migrations (the Procfile's release step)."""
    from newsletter.core import db

    db.upgrade()
    out.print(f"database is up to date: {mask(get_settings().database_url)}")


@app.command()
def subscribe(
    email: str,
    topic: Annotated[list[str] | None, Opt("--topic", help="Keyword or phrase.")] = None,
    author: Annotated[list[str] | None, Opt("--author", help="Follow an author.")] = None,
    category: Annotated[list[str] | None, Opt("--category", help="arXiv category.")] = None,
    source: Annotated[list[str] | None, Opt(
        "--source", help="A journal or preprint server by name (`newsletter sources`).")] = None,
    news: Annotated[bool, Opt(
        "--news/--no-news", help="Journals' news and comment too, after the research.")] = False,
    exclude: Annotated[list[str] | None, Opt(
        "--exclude", help="Drop papers with this word.")] = None,
    library: Annotated[list[Path] | None, Opt(
        "--library", help="Your papers: BibTeX, RIS, CSL-JSON or arXiv ids / DOIs (repeatable).")
    ] = None,
    lang: Annotated[str, Opt("--lang", help="en | zh")] = "en",
    tz: Annotated[str, Opt("--tz", help="IANA time zone, e.g. Asia/Shanghai")] = "UTC",
    hour: Annotated[int, Opt("--hour", help="Local delivery hour, 0-23")] = 7,
    confirmed: Annotated[bool, Opt(
        "--confirmed", help="Skip double opt-in (operator use).")] = False,
):
    """Add or update a subscriber (double opt-in unless --confirmed)."""
    from newsletter.core.db import session_scope
    from newsletter.ranking import learning
    from newsletter.subscribers import library as libraries
    from newsletter.subscribers import lifecycle, notices
    from newsletter.subscribers.validation import InvalidInput

    files = []
    for path in library or ():  # every file is read first: a broken one changes nothing
        try:
            data = path.read_bytes()
            libraries.parse_library(data, path.name)
        except OSError as error:
            fail(f"--library {path}: cannot read it: {error.strerror}")
        except libraries.LibraryError as error:
            fail(f"--library {path}: {error}")
        files.append((path, data))
    reports = []
    try:
        with session_scope() as session:
            subscriber = lifecycle.subscribe(
                session, email, keywords=topic or (), authors=author or (),
                categories=category or (), excludes=exclude or (), sources=source or (),
                include_news=news, locale=lang, timezone=tz,
                send_hour=hour, confirmed=confirmed, source="cli")
            for path, data in files:
                reports.append((path, libraries.import_library(session, subscriber, data,
                                                               path.name)))
            if files:
                learning.refresh(session, None, [subscriber.id])
            if not confirmed:
                notices.send_confirmation(session, subscriber)
            summary = (subscriber.email, subscriber.status, subscriber.timezone,
                       subscriber.send_hour, subscriber.locale)
    except InvalidInput as error:
        fail(str(error))
    except libraries.LibraryError as error:
        fail(f"--library: {error}")
    email_, status, tz_, hour_, lang_ = summary
    out.print(f"{email_}: {status} ({lang_}, {hour_:02d}:00 {tz_})"
              + ("" if confirmed else " - a confirmation email was sent"))
    for path, report in reports:
        for line in report.lines():
            out.print(f"{path.name}: {line}" if not line.startswith(" ") else line,
                      highlight=False, markup=False)


@app.command()
def learn(
    email: Annotated[str | None, Opt("--email", help="Only this subscriber's model.")] = None,
    refit: Annotated[bool, Opt("--refit", help="Fit the representation again now.")] = False,
):
    """Bring the learned relevance up to date (what the `learn` beat task runs).

    Representation, paper vectors, models of subscribers whose library or ratings changed."""
    from newsletter.core.db import session_scope
    from newsletter.ranking import learning

    with session_scope() as session:
        only = [find_subscriber(session, email).id] if email else None
        done = learning.refresh(session, None, only, refit=refit)
    if done.version is None:
        out.print("nothing to learn: no subscriber has a library or ratings"
                  if not refit else "not enough papers to fit a representation yet")
        return
    out.print(f"representation {done.version}: {done.papers} papers and {done.library} "
              f"library items embedded, {done.models} models trained")


@app.command()
def preview(
    email: str,
    date: Annotated[str | None, Opt(
        "--date", help="Local date, YYYY-MM-DD (default: the subscriber's today).")] = None,
    out_dir: Annotated[Path, Opt(
        "--out", help="Where to write digest.html/.txt/.eml.")] = Path("preview"),
    explain: Annotated[bool, Opt(
        "--explain", help="Print the ranked picks with scores and reasons.")] = False,
):
    """Build a subscriber's digest without sending it (and without counting it as sent)."""
    from newsletter.core.db import session_scope
    from newsletter.core.models import Outcome
    from newsletter.scheduling import pipeline

    try:
        local_date = dt.date.fromisoformat(date) if date else None
    except ValueError:
        fail(f"--date: not a date: {date!r} (use YYYY-MM-DD)")
    with session_scope() as session:
        subscriber = find_subscriber(session, email)
        if local_date is None:  # the subscriber's today, not the machine's
            local_date = local_now(subscriber.timezone).date()
        result = pipeline.preview(session, subscriber, local_date)
    if explain:
        from newsletter.locale.reasons import reason_text

        table = Table("#", "score", "paper", "why")
        for n, pick in enumerate(result.picks, 1):  # every stored reason, in English
            why = reason_text(pick.reasons, "en", limit=len(pick.reasons)) or pick.reason
            table.add_row(str(n), f"{pick.score:.2f}",
                          f"{pick.paper.id}  {pick.paper.title[:70]}", why)
        out.print(table)
    if result.status == Outcome.EMPTY:
        out.print("nothing to send: no new papers match this subscriber's topics")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "digest.html").write_text(result.html, encoding="utf-8")
    (out_dir / "digest.txt").write_text(result.text, encoding="utf-8")
    (out_dir / "digest.eml").write_bytes(result.eml)
    out.print(f"[bold]{result.subject}[/bold]\nwrote {out_dir}/digest.html, digest.txt, digest.eml "
              f"({len(result.html.encode()) / 1024:.1f} KB HTML)")


@app.command("send-due")
def send_due(
    now: Annotated[str | None, Opt("--now", help="Pretend it is this ISO time.")] = None,
    dry_run: Annotated[bool, Opt(
        "--dry-run", help="Show who is due; claim and send nothing.")] = False,
    email: Annotated[str | None, Opt("--email", help="Only this subscriber.")] = None,
):
    """One scheduler tick, synchronously: claim due digests and run them."""
    from newsletter.scheduling import pipeline

    result = pipeline.send_due(parse_when(now, "--now"), dry_run=dry_run, only_email=email)
    table = Table("digest", "subscriber", "local date", "outcome")
    for digest in result.claimed:
        table.add_row(str(digest.id or "-"), str(digest.subscriber_id), str(digest.local_date),
                      "due (dry run)" if dry_run else tick_outcome(result, digest))
    out.print(table if result.claimed else "nobody is due")


def tick_outcome(result, digest) -> str:
    """One digest's line in `send-due`: what became of it, and why when it was not sent."""
    from newsletter.core.models import DigestStatus, Outcome

    outcome = result.outcomes.get(digest.id, digest.status)
    if outcome == Outcome.ERROR:
        return f"error: {result.errors[digest.id]}"
    if outcome == DigestStatus.SKIPPED and digest.error:
        return f"skipped - {digest.error}"
    return str(outcome)


STATS_HEADERS = {"skipped": "skip", "failed": "fail", "delivered": "deliv", "opened": "open",
                 "clicked": "click", "bounced": "bounce", "unsubscribed": "unsub"}


@app.command()
def stats(
    days: Annotated[int, Opt("--days", min=1, max=365, help="Days back from today.")] = 7,
    as_json: Annotated[bool, Opt(
        "--json", help="One JSON object: the days and the LLM spend.")] = False,
):
    """Per day: due, sent, skipped, failed, delivered, opened, clicked, bounced, unsubscribed."""
    from newsletter.core.db import session_scope
    from newsletter.tracking import stats as stats_mod

    with session_scope() as session:
        rows = stats_mod.daily(session, days)
        spend = stats_mod.spend(session, days)
    if as_json:
        print(json.dumps({"days": rows, "llm": spend}, default=str))
        return
    if not rows:
        out.print("no activity yet")
        return
    table = Table(pad_edge=False)  # ten columns in 80 characters
    for name in rows[0]:
        table.add_column(STATS_HEADERS.get(name, name), no_wrap=True,
                         justify="left" if name == "day" else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    out.print(table)
    if spend:
        table = Table(*spend[0].keys(), title="LLM spend")
        for row in spend:
            table.add_row(*(str(v) for v in row.values()))
        out.print(table)


@app.command()
def summarize(
    batch: Annotated[bool, Opt(
        "--batch", help="Through the Message Batches API (half price).")] = False,
    lang: Annotated[str, Opt("--lang", help="The summaries' language: en | zh")] = "en",
):
    """Write the day's per-paper summaries ahead of the morning (cached, shared by everyone)."""
    from newsletter.core.db import session_scope
    from newsletter.writing import synthesize

    if not get_settings().llm_enabled:
        fail("ANTHROPIC_API_KEY is not set: the offline writer needs no summaries in advance")
    with session_scope() as session:
        result = synthesize.summarize_batch(session, locale=lang) if batch else \
            synthesize.summarize_recent(session, locale=lang)
    out.print(result)


@app.command()
def serve(
    host: Annotated[str, Opt("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, Opt("--port", help="Port to listen on.")] = 8000,
    jobs: Annotated[bool, Opt(
        "--jobs/--no-jobs", help="Run the scheduler tick in-process.")] = True,
):
    """The web app plus, on embedded defaults, the scheduler in a background thread."""
    import uvicorn

    from newsletter.core import db

    db.upgrade()
    if jobs:
        from newsletter.scheduling.background import start_ticker

        start_ticker()
    out.print(f"AcademicHub on http://{host}:{port}/  (outbox: {get_settings().outbox_dir})")
    # X-Forwarded-* is the app's business (TRUSTED_PROXIES), never uvicorn's default trust.
    uvicorn.run("newsletter.web.app:app", host=host, port=port, log_level="info",
                proxy_headers=False)


@app.command()
def demo(
    offline: Annotated[bool, Opt(
        "--offline", help="Use the bundled sample, not live arXiv.")] = False,
):
    """One full cycle on embedded defaults: harvest, subscribe, select, write, compose, deliver."""
    from newsletter import demo as demo_mod

    report = demo_mod.run(offline=offline, console=out)
    paths = {k: report.pop(k) for k in ("email (.eml)", "open in a browser")}
    table = Table(title="AcademicHub demo", show_header=False)
    for key, value in report.items():
        table.add_row(key, str(value))
    out.print(table)
    for key, value in paths.items():  # full paths, never cut by the table's width
        out.print(f"{key}: {value}", soft_wrap=True, highlight=False)
