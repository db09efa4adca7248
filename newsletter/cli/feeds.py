"""`newsletter harvest`, `newsletter enrich` and `newsletter sources`: the feeds, fetched or
imported from a file, Crossref's abstracts for thin journal papers, and the catalogue an
operator switches on and off."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.common import Opt, err, fail, out

sources_app = typer.Typer(help="The feed catalogue: list it, enable or disable a source.")


def harvest(
    source: Annotated[list[str] | None, Opt(
        "--source", help="Only this source (repeatable); with --file, the file's source.")] = None,
    file: Annotated[Path | None, Opt("--file", help="Import a local feed file.")] = None,
    kind: Annotated[str | None, Opt("--kind", help="arxiv_rss | arxiv_api | biorxiv | rss")] = None,
    as_json: Annotated[bool, Opt(
        "--json", help="Print one normalized paper per line; store nothing.")] = False,
    dry_run: Annotated[bool, Opt("--dry-run", help="Fetch and parse; store nothing.")] = False,
    force: Annotated[bool, Opt("--force", help="Ignore the freshness window.")] = False,
):
    """Fetch the enabled feeds into the shared store, or import one local feed file."""
    from newsletter.harvest import harvester as harvesting

    if file is not None:
        import_feed_file(file, kind, source or [], as_json=as_json, dry_run=dry_run)
        return
    from newsletter.core.db import session_scope

    with session_scope() as session:
        results = harvesting.harvest(session, source or None, force=force, progress=not as_json,
                                     dry_run=dry_run)
    if as_json:
        for r in results:
            sys.stdout.write(json.dumps(harvesting.result_json(r)) + "\n")
        return
    print_results(results, dry_run=dry_run)


def enrich(
    limit: Annotated[int | None, Opt(
        "--limit", min=0, help="Crossref lookups at most (default CROSSREF_ENRICH_LIMIT).")] = None,
):
    """Fill in journal papers whose feed gave no or a one-sentence abstract, from Crossref."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from newsletter.core.db import session_scope
    from newsletter.harvest import crossref

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with session_scope() as session, Progress(*columns, console=err) as bar:
        task = bar.add_task("crossref", total=None)

        def step(paper, outcome: str) -> None:
            bar.update(task, advance=1, description=f"{paper.doi}: {outcome}")

        report = crossref.enrich(session, limit=limit, progress=step)
    out.print(report.line(), highlight=False)


def import_feed_file(file: Path, kind: str | None, sources: list[str], *, as_json: bool,
                     dry_run: bool) -> None:
    """`harvest --file`: print (--json), count (--dry-run) or import the file's papers."""
    from newsletter.harvest import harvester as harvesting

    if kind not in harvesting.KINDS:
        fail(f"--kind must be one of {', '.join(harvesting.KINDS)} with --file")
    if len(sources) > 1:
        fail("--file takes one --source: the source the file is attributed to")
    try:
        if as_json or dry_run:
            papers = harvesting.harvest_file(file, kind)
        else:
            from newsletter.core.db import session_scope

            with session_scope() as session:
                result = harvesting.import_file(session, file, kind,
                                                source_name=sources[0] if sources else None)
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror or error}")
    except harvesting.FeedError as error:
        fail(f"{file}: {error}")
    except ValueError as error:
        fail(f"{file}: {error}")
    if as_json:
        for paper in papers:
            sys.stdout.write(json.dumps(harvesting.paper_json(paper), ensure_ascii=False) + "\n")
    elif dry_run:
        out.print(f"{len(papers)} papers parsed from {file} (dry run: nothing stored)")
    else:
        print_results([result])


def print_results(results: list, *, dry_run: bool = False) -> None:
    """The harvest summary table, the same for a network harvest and an imported file."""
    from newsletter.harvest.harvester import result_json

    table = Table("source", "status", "papers", "new", "updated", "note",
                  title="dry run: nothing stored" if dry_run else None)
    for r in results:
        row = result_json(r)
        table.add_row(row["source"], row["status"], str(row["papers"]), str(row["new"]),
                      str(row["updated"]), row.get("error") or "")
    out.print(table)


@sources_app.callback(invoke_without_command=True)
def sources(
    ctx: typer.Context,
    as_json: Annotated[bool, Opt("--json", help="One source per line: name, label, field, "
                                 "kind, url, enabled.")] = False,
):
    """List every source: the preprint servers and the journal catalogue, on or off."""
    if ctx.invoked_subcommand is not None:
        return
    from newsletter.core.db import session_scope
    from newsletter.harvest.sources import list_sources

    with session_scope() as session:
        rows = list_sources(session)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("name", "label", "field", "kind", "enabled")  # URLs: --json
    for row in rows:
        table.add_row(row["name"], row["label"], row["field"], row["kind"],
                      "yes" if row["enabled"] else "no")
    out.print(table)


def _switch_source(name: str, enabled: bool) -> None:
    from newsletter.core.db import session_scope
    from newsletter.harvest.sources import set_enabled

    with session_scope() as session:
        try:
            set_enabled(session, name, enabled)
        except KeyError:
            fail(f"no source named {name!r} (see `newsletter sources`)")
    out.print(f"{name}: {'enabled' if enabled else 'disabled'}")


@sources_app.command("enable")
def sources_enable(name: str):
    """Harvest this source with the enabled ones (every freshness window)."""
    _switch_source(name, True)


@sources_app.command("disable")
def sources_disable(name: str):
    """Stop harvesting this source unless a subscriber's interests name it."""
    _switch_source(name, False)
