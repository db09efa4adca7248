"""Preferences for learned relevance: import your papers, rate a few, undo a vote.

`POST /preferences/{token}/library` takes an uploaded export (BibTeX, RIS, CSL-JSON) and/or
pasted arXiv ids and DOIs; `POST /preferences/{token}/rate` records a vote from "rate these
papers" (or undoes one). Both answer with the preferences page itself, so the report of an
import is shown once. The email's "more / less like this" links stay GET `/f/{token}`
(pages.py), whose page offers an undo posted to `/f/{token}` here. Every form carries the
CSRF token; the handlers are plain `def`s, run in the thread pool like the other pages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.core import links
from newsletter.core.models import Paper, Subscriber
from newsletter.locale.i18n import translator
from newsletter.ranking import learning
from newsletter.subscribers import library
from newsletter.tracking import ratings
from newsletter.web.common import (
    FormDep,
    LinkTo,
    SessionDep,
    csrf_ok,
    error_page,
    message_page,
    page_locale,
    refused_form,
)
from newsletter.web.preview import card

router = APIRouter()
MAX_PASTE = 200_000  # characters of pasted ids
VOTES = {"more": 1, "less": -1, "undo": 0}


async def read_library_form(request: Request) -> tuple[dict[str, str], bytes, str] | None:
    """The import form: text fields, the uploaded file's bytes (one past the cap at most,
    so an oversized file is refused by the parser's own message) and its name."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception:  # noqa: BLE001  malformed multipart, too many parts ...
        return None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    data, name = b"", ""
    if upload is not None and not isinstance(upload, str):
        data = await upload.read(library.MAX_BYTES + 1)
        name = upload.filename or ""
    return fields, data, name


LibraryFormDep = Annotated[tuple[dict[str, str], bytes, str] | None, Depends(read_library_form)]


def learning_context(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """What the preferences page shows about the library and the papers to rate."""
    items = library.items_of(session, subscriber)
    return {"library_items": items[:8], "library_count": len(items),
            "rate_cards": [card(n, p, abstract_chars=300) for n, p in
                           enumerate(learning.papers_to_rate(session, subscriber), 1)]}


def voted(locale: str, vote: str, title: str) -> str:
    tr = translator(locale)
    if vote == "more":
        return tr.gettext("Noted: more papers like “%(title)s”.", title=title)
    if vote == "less":
        return tr.gettext("Noted: fewer papers like “%(title)s”.", title=title)
    return tr.gettext("Your vote on “%(title)s” was removed.", title=title)


PreferencesLink = Annotated[Subscriber, LinkTo("preferences")]


@router.post("/preferences/{token}/library", response_class=HTMLResponse)
def library_import(request: Request, session: SessionDep, subscriber: PreferencesLink,
                   form: LibraryFormDep) -> Response:
    from newsletter.web.pages import preferences_view

    locale = page_locale(request, subscriber.locale)
    if (refused := refused_form(request, form and form[0], locale)) is not None:
        return refused
    fields, data, name = form
    parts = [(blob, filename) for blob, filename in
             ((data, name), (fields.get("ids", "")[:MAX_PASTE].strip().encode(), "pasted.txt"))
             if blob]
    if not parts:
        return preferences_view(request, session, subscriber, status=422,
                                errors={"library": translator(locale).gettext(
                                    "Choose a file or paste arXiv ids or DOIs first.")})
    try:
        for blob, filename in parts:  # every part is read first: a broken one changes nothing
            library.parse_library(blob, filename)
        reports = [library.import_library(session, subscriber, blob, filename)
                   for blob, filename in parts]
    except library.LibraryError as error:
        return preferences_view(request, session, subscriber, status=422, errors={
            "library": translator(locale).gettext(
            "Nothing was imported: %(reason)s.", reason=error.text(locale))})
    learning.refresh(session, None, [subscriber.id])
    skipped = [line for r in reports for line in r.skipped_text(locale)]
    used = sum(len(r.used) for r in reports)
    notice = translator(locale).ngettext("Imported %(num)s paper; skipped %(skipped)s.",
                                         "Imported %(num)s papers; skipped %(skipped)s.", used,
                                         skipped=len(skipped))
    return preferences_view(request, session, subscriber, notice=notice, details=skipped[:50])


@router.post("/preferences/{token}/rate", response_class=HTMLResponse)
def rate_paper(request: Request, session: SessionDep, subscriber: PreferencesLink,
               data: FormDep) -> Response:
    from newsletter.web.pages import preferences_view

    locale = page_locale(request, subscriber.locale)
    if (refused := refused_form(request, data, locale)) is not None:
        return refused
    paper = session.get(Paper, str(data.get("paper", ""))[:300])
    vote = data.get("vote")
    if paper is None or vote not in VOTES:
        return error_page(request, "bad_request", 400, locale)
    ratings.rate(session, subscriber, paper, VOTES[vote], "rate")
    learning.refresh(session, None, [subscriber.id])
    return preferences_view(request, session, subscriber,
                            notice=voted(locale, vote, paper.title[:200]),
                            undo=None if vote == "undo" else paper.id)


@router.post("/f/{token}", response_class=HTMLResponse)
def feedback_undo(token: str, request: Request, session: SessionDep,
                  subscriber: Annotated[Subscriber, LinkTo("feedback")],
                  data: FormDep) -> Response:
    """The undo button of the page an email's "more / less like this" link opens; with
    `vote` set to the link's own signal, the vote itself (the button a fetch that looked
    like a mail scanner's was shown instead of a recorded vote)."""
    extra = links.read_token("feedback", token).extra  # verified by LinkTo
    paper_id, signal = extra.get("paper"), extra.get("signal")
    locale = page_locale(request, subscriber.locale)
    if data is None or not csrf_ok(request, data):
        return error_page(request, "csrf_failed", 403, locale)
    paper = session.get(Paper, paper_id) if isinstance(paper_id, str) else None
    if paper is None:
        return error_page(request, "not_found", 404, locale)
    vote = signal if data.get("vote") == signal and signal in ratings.SIGNALS else "undo"
    ratings.rate(session, subscriber, paper, ratings.SIGNALS.get(vote, 0), "email")
    tr = translator(locale)
    undo = {"undo_url": request.app.url_path_for("feedback_undo", token=token),
            "undo_label": tr.gettext("Undo")} if vote != "undo" else {}
    return message_page(request, locale, tr.gettext("Thank you"),
                        voted(locale, vote, paper.title[:200]),
                        link=links.url_for("preferences", subscriber),
                        link_label=tr.gettext("Edit your preferences"), **undo)
