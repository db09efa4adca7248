"""The subscriber's archive page, GET /a/{token}: past digests (each opening its web view)
and a search over every paper they were sent, with their votes.

Reached through a signed `archive` link (preferences page, every digest's footer), which
expires like a preferences link. Works without JavaScript: the search is a GET form, pages
are plain links. Hostile queries (too long, too many words) get a message, never a 500;
`%` and `_` are searched literally (subscribers.archive).
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
from newsletter.core.models import Subscriber
from newsletter.core.richtext import safe_markup
from newsletter.locale import i18n
from newsletter.subscribers import archive
from newsletter.web.common import LinkTo, SessionDep, page_locale, render

router = APIRouter()
ArchiveLink = Annotated[Subscriber, LinkTo("archive")]
SUMMARY_CHARS = 400


def _authors(names: list[str], tr: i18n.Translator) -> str:
    shown = ", ".join(names[:SHOWN_AUTHORS])
    hidden = len(names) - SHOWN_AUTHORS
    return f"{shown} {tr.ngettext('+%(num)s more', '+%(num)s more', hidden)}" if hidden > 0 \
        else shown


def _cut(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _hit(hit: archive.Hit, subscriber: Subscriber, tr: i18n.Translator) -> dict[str, Any]:
    paper = hit.paper
    rated = {1: tr.gettext("You asked for more like this"),
             -1: tr.gettext("You asked for less like this")}.get(hit.rating or 0)
    return {"id": paper.id, "title": paper.title,
            "title_html": safe_markup(paper.title_html, paper.title),
            "url": safe_url(paper.url), "source": source_label(paper),
            "authors": _authors([a for a in paper.authors or [] if a.strip()], tr),
            "summary": _cut(hit.summary or paper.abstract or ""), "rated": rated,
            "date": tr.date(hit.date),
            "digest_url": links.url_for("digest", subscriber, digest=hit.digest_id)}


def _digest(row: archive.DigestRow, subscriber: Subscriber, locale: str,
            tr: i18n.Translator) -> dict[str, Any]:
    from newsletter.web.pages import skip_note

    digest = row.digest
    return {"date": tr.date(digest.local_date), "iso": digest.local_date.isoformat(),
            "subject": digest.subject, "note": skip_note(digest, subscriber, locale),
            "count": tr.ngettext("%(num)s paper", "%(num)s papers", row.papers)
            if row.papers else "",
            "url": links.url_for("digest", subscriber, digest=digest.id)}


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
        hits = [_hit(h, subscriber, tr) for h in found.rows]
    elif error is None:
        found = archive.digests(session, subscriber, page)
        digests = [_digest(r, subscriber, locale, tr) for r in found.rows]

    def page_url(number: int) -> str:
        query = {"q": raw} if words else {}
        return f"{path}?{urlencode({**query, 'page': number, 'lang': locale})}"

    nav = {}
    if error is None:
        nav = {"newer": page_url(page - 1) if page > 1 else None,
               "older": page_url(page + 1) if found.has_next else None}
    return render(request, "archive.html", locale, status, subscriber=subscriber,
                  archive_path=path, query=raw[: archive.MAX_QUERY], searched=bool(words),
                  error=error, hits=hits, digests=digests, page=page, notice=notice,
                  max_query=archive.MAX_QUERY,
                  preferences_url=links.url_for("preferences", subscriber), **nav)


@router.get("/a/{token}", response_class=HTMLResponse)
def archive_page(request: Request, session: SessionDep, subscriber: ArchiveLink) -> Response:
    return archive_view(request, session, subscriber)
