"""Citation downloads behind signed links: `/x/{token}` is the BibTeX or RIS file of one
paper, a whole digest or the reading list, as an attachment that Zotero, JabRef or Mendeley
import.

The token names the subscriber (revoked with their token version, like every link), what
to export and the format, so each link is one file and nothing else can be asked of it.
Links are made by `links.export_url` (the email's cards and footer, the web pages).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import select

from newsletter.core import links
from newsletter.core.models import Digest, DigestItem, Paper, Subscriber
from newsletter.subscribers import citations, saved
from newsletter.web.common import LinkTo, SessionDep, error_page

router = APIRouter()
ExportLink = Annotated[Subscriber, LinkTo("export")]
MAX_SAVED = 5000  # papers in one reading-list file (what the library import takes at most)


def download(text: str, fmt: str, name: str) -> Response:
    """`text` as an attachment named `name`.<extension of fmt>."""
    extension, mime = citations.FORMATS[fmt]
    filename = f"{name}.{extension}"
    return Response(text.encode("utf-8"), media_type=f"{mime}; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"{filename}\"; "
                               f"filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "private, no-store"})


@router.get("/x/{token}")
def export_file(token: str, request: Request, session: SessionDep,
                subscriber: ExportLink) -> Response:
    extra = links.read_token("export", token).extra  # verified by LinkTo
    fmt = extra.get("fmt", "bibtex")
    digest_id, paper_id = extra.get("digest"), extra.get("paper")
    papers: list[Paper] = []
    if fmt in citations.FORMATS and extra.get("saved") == 1:  # the reading list, newest first
        rows = saved.reading_list(session, subscriber, 1, per_page=MAX_SAVED).rows
        papers, name = [paper for _, paper in rows], "academichub-reading-list"
    elif fmt in citations.FORMATS and isinstance(paper_id, str):
        paper = session.get(Paper, paper_id)
        papers, name = ([paper], citations.citekey(paper)) if paper else ([], "")
    elif fmt in citations.FORMATS and isinstance(digest_id, int):
        digest = session.get(Digest, digest_id)
        if digest is not None and digest.subscriber_id == subscriber.id:
            papers = list(session.exec(
                select(Paper).join(DigestItem, DigestItem.paper_id == Paper.id)
                .where(DigestItem.digest_id == digest.id).order_by(DigestItem.rank)))
            name = f"academichub-{digest.local_date.isoformat()}"
    if not papers:
        return error_page(request, "not_found", 404, subscriber.locale)
    return download(citations.render(papers, fmt), fmt, name)
