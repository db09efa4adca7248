"""The subscriber's archive page, GET /a/{token}: past digests (each opening its web view),
a search over every paper they were sent, with their votes, and their reading list.

Reached through a signed `archive` link (preferences page, every digest's footer), which
expires like a preferences link. Works without JavaScript: the search is a GET form, pages
are plain links, Save / Remove are POST forms with the CSRF token. Hostile queries (too
long, too many words) get a message, never a 500; `%` and `_` are searched literally
(subscribers.archive).

The email's "Save" link is GET /s/{token}. Mail scanners open every link, so a fetch that
looks like one (the clicks heuristic: a checker's agent, a prefetch, or within a minute of
the digest's sending, when link checkers that look like browsers open it) saves nothing and
shows a button that POSTs; a reader's click saves at once (saving twice is harmless) and
offers to undo.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.compose.render import safe_url
from newsletter.compose.view import SHOWN_AUTHORS, source_label
from newsletter.core import links
from newsletter.core.models import Paper, Subscriber
from newsletter.core.richtext import safe_markup
from newsletter.locale import i18n
from newsletter.subscribers import archive, saved
from newsletter.tracking import clicks
from newsletter.web.common import (
    FormDep,
    LinkTo,
    SessionDep,
    csrf_ok,
    error_page,
    message_page,
    page_locale,
    render,
)

router = APIRouter()
ArchiveLink = Annotated[Subscriber, LinkTo("archive")]
SaveLink = Annotated[Subscriber, LinkTo("save")]
SUMMARY_CHARS = 400


def _authors(names: list[str], tr: i18n.Translator) -> str:
    shown = ", ".join(names[:SHOWN_AUTHORS])
    hidden = len(names) - SHOWN_AUTHORS
    return f"{shown} {tr.ngettext('+%(num)s more', '+%(num)s more', hidden)}" if hidden > 0 \
        else shown


def _cut(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _paper(paper: Paper, tr: i18n.Translator) -> dict[str, Any]:
    return {"id": paper.id, "title": paper.title,
            "title_html": safe_markup(paper.title_html, paper.title),
            "url": safe_url(paper.url), "source": source_label(paper),
            "authors": _authors([a for a in paper.authors or [] if a.strip()], tr)}


def _hit(hit: archive.Hit, subscriber: Subscriber, tr: i18n.Translator,
         saved_ids: set[str]) -> dict[str, Any]:
    rated = {1: tr.gettext("You asked for more like this"),
             -1: tr.gettext("You asked for less like this")}.get(hit.rating or 0)
    return {**_paper(hit.paper, tr), "rated": rated, "saved": hit.paper.id in saved_ids,
            "summary": _cut(hit.summary or hit.paper.abstract or ""), "date": tr.date(hit.date),
            "digest_url": links.url_for("digest", subscriber, digest=hit.digest_id),
            "export_url": links.export_url(subscriber, paper=hit.paper.id)}


def _digest(row: archive.DigestRow, subscriber: Subscriber, locale: str,
            tr: i18n.Translator) -> dict[str, Any]:
    from newsletter.web.pages import skip_note

    digest = row.digest
    return {"date": tr.date(digest.local_date), "iso": digest.local_date.isoformat(),
            "subject": digest.subject, "note": skip_note(digest, subscriber, locale),
            "count": tr.ngettext("%(num)s paper", "%(num)s papers", row.papers)
            if row.papers else "",
            "url": links.url_for("digest", subscriber, digest=digest.id),
            "export_url": links.export_url(subscriber, digest=digest.id) if row.papers else None}


def archive_view(request: Request, session: Session, subscriber: Subscriber, *,
                 notice: str | None = None, status: int = 200) -> Response:
    locale = page_locale(request, subscriber.locale)
    tr = i18n.translator(locale)
    path = request.app.url_path_for("archive_page", token=request.path_params["token"])
    raw = request.query_params.get("q", "")
    page = archive.page_number(request.query_params.get("page"))
    error, hits, digests = None, None, None
    try:
        words = archive.search_words(raw)
    except archive.QueryError as refused:
        words, error, status = [], refused.text(locale), 422
    if words:
        found = archive.search(session, subscriber, words, page)
        saved_ids = saved.saved_among(session, subscriber, [h.paper.id for h in found.rows])
        hits = [_hit(h, subscriber, tr, saved_ids) for h in found.rows]
    elif error is None:
        found = archive.digests(session, subscriber, page)
        digests = [_digest(r, subscriber, locale, tr) for r in found.rows]

    saved_page = archive.page_number(request.query_params.get("saved_page"))
    reading = saved.reading_list(session, subscriber, saved_page)
    saved_total = saved.count(session, subscriber)
    if not reading.rows and saved_page > 1:  # past the end (its last paper just removed)
        saved_page = max(1, -(-saved_total // archive.PER_PAGE))
        reading = saved.reading_list(session, subscriber, saved_page)
    state = {"q": raw} if words else {}
    state |= {"page": page} if page > 1 else {}
    state |= {"saved_page": saved_page} if saved_page > 1 else {}

    def url(**change: Any) -> str:
        return f"{path}?{urlencode({**state, **change, 'lang': locale})}"

    nav = {}
    if error is None:
        nav = {"newer": url(page=page - 1) if page > 1 else None,
               "older": url(page=page + 1) if found.has_next else None}
    return render(request, "archive.html", locale, status, subscriber=subscriber,
                  archive_path=path, query=raw[: archive.MAX_QUERY], searched=bool(words),
                  error=error, hits=hits, digests=digests, page=page, notice=notice,
                  max_query=archive.MAX_QUERY, save_action=f"{path}/saved?"
                  + urlencode({**state, "lang": locale}),
                  reading=[{**_paper(paper, tr), "saved_on": tr.date(row.saved_at.date()),
                            "export_url": links.export_url(subscriber, paper=paper.id)}
                           for row, paper in reading.rows],
                  reading_exports=[links.export_url(subscriber, fmt, saved=1)
                                   for fmt in ("bibtex", "ris")],
                  saved_total=saved_total,
                  saved_newer=url(saved_page=saved_page - 1) if saved_page > 1 else None,
                  saved_older=url(saved_page=saved_page + 1) if reading.has_next else None,
                  preferences_url=links.url_for("preferences", subscriber), **nav)


@router.get("/a/{token}", response_class=HTMLResponse)
def archive_page(request: Request, session: SessionDep, subscriber: ArchiveLink) -> Response:
    return archive_view(request, session, subscriber)


@router.post("/a/{token}/saved", response_class=HTMLResponse)
def archive_save(request: Request, session: SessionDep, subscriber: ArchiveLink,
                 data: FormDep) -> Response:
    """Save / Remove on the archive page: a paper that was sent to this subscriber."""
    locale = page_locale(request, subscriber.locale)
    paper = saved.was_sent(session, subscriber, str((data or {}).get("paper", ""))[:300])
    if refused := _refused(request, data, locale, paper):
        return refused
    saved.apply(session, subscriber, paper, data["action"], "web")
    return archive_view(request, session, subscriber,
                        notice=saved_words(locale, data["action"], paper.title[:200]))


def _refused(request: Request, data: dict[str, Any] | None, locale: str,
             paper: Paper | None) -> Response | None:
    """The error page for a Save / Remove form we do not act on, else None."""
    if data is None or not csrf_ok(request, data):
        return error_page(request, "csrf_failed", 403, locale)
    if paper is None or data.get("action") not in saved.ACTIONS:
        return error_page(request, "bad_request", 400, locale)
    return None


def saved_words(locale: str, action: str, title: str) -> str:
    tr = i18n.translator(locale)
    if action == "save":
        return tr.gettext("“%(title)s” is on your reading list.", title=title)
    return tr.gettext("“%(title)s” was removed from your reading list.", title=title)


def _linked_paper(session: Session, token: str) -> Paper | None:
    paper_id = links.read_token("save", token).extra.get("paper")  # verified by LinkTo
    return session.get(Paper, paper_id) if isinstance(paper_id, str) else None


def _saved_page(request: Request, subscriber: Subscriber, token: str, locale: str,
                action: str, title: str) -> Response:
    """What a Save link (or its button) answers: done, and the opposite as a button."""
    tr = i18n.translator(locale)
    undo = "unsave" if action == "save" else "save"
    return message_page(
        request, locale, tr.gettext("Your reading list"), saved_words(locale, action, title),
        undo_url=request.app.url_path_for("save_link_post", token=token), form_action=undo,
        undo_label=tr.gettext("Remove from the reading list") if undo == "unsave"
        else tr.gettext("Save"),
        link=links.url_for("archive", subscriber),
        link_label=tr.gettext("Your archive and reading list"))


@router.get("/s/{token}", response_class=HTMLResponse)
def save_link(token: str, request: Request, session: SessionDep,
              subscriber: SaveLink) -> Response:
    paper = _linked_paper(session, token)
    locale = page_locale(request, subscriber.locale)
    if paper is None:
        return error_page(request, "not_found", 404, locale)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if clicks.Fetch(request.method, headers).prefetched(
            saved.last_sent(session, subscriber, paper.id)):
        tr = i18n.translator(locale)
        return message_page(request, locale, tr.gettext("Your reading list"), tr.gettext(
            "Save “%(title)s” to your reading list?", title=paper.title[:200]),
            undo_url=request.app.url_path_for("save_link_post", token=token),
            undo_label=tr.gettext("Save"), form_action="save")
    saved.save(session, subscriber, paper, "email")
    return _saved_page(request, subscriber, token, locale, "save", paper.title[:200])


@router.post("/s/{token}", response_class=HTMLResponse)
def save_link_post(token: str, request: Request, session: SessionDep, subscriber: SaveLink,
                   data: FormDep) -> Response:
    """The button of a Save link's page: save (a fetch that looked like a scanner's was
    shown it instead of saving) or undo."""
    locale = page_locale(request, subscriber.locale)
    paper = _linked_paper(session, token)
    if refused := _refused(request, data, locale, paper):
        return refused
    saved.apply(session, subscriber, paper, data["action"], "email")
    return _saved_page(request, subscriber, token, locale, data["action"], paper.title[:200])
