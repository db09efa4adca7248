"""Local fakes of the arXiv API and Crossref's REST API, speaking their wire formats.

`ScholarlyServer(arxiv={id: paper}, crossref={doi: work})` answers
`GET /api/query?id_list=a,b&max_results=N` with an arXiv Atom feed (only the ids it knows,
as arXiv does) and `GET /works/{doi}` with Crossref's `{"status": "ok", "message": ...}`
JSON, or 404 "Resource not found." for an unknown DOI. Point FEED_BASE_OVERRIDE (or
CROSSREF_API_URL) at `.url`. It records every request line, so tests can check ids were
batched and mailto was sent. Crossref's answers carry its rate-limit headers
(`X-Rate-Limit-Limit` / `-Interval`, from `.rate_limit`); `.crossref_failures` lists answers
(status, headers) to give before any real one, e.g. `(429, {"Retry-After": "30"})`.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from tests.feedserver import FeedServer

ATOM = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" \
xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/fake</id>
  <title>arXiv Query: search_query=&amp;id_list={ids}&amp;start=0&amp;max_results=10</title>
  <updated>2026-11-24T06:12:40Z</updated>
  <opensearch:itemsPerPage>{count}</opensearch:itemsPerPage>
  <opensearch:totalResults>{count}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
{entries}</feed>
"""
ENTRY = """  <entry>
    <id>http://arxiv.org/abs/{id}v1</id>
    <title>{title}</title>
    <updated>2024-01-01T00:00:00Z</updated>
    <link href="https://arxiv.org/abs/{id}v1" rel="alternate" type="text/html"/>
    <summary>{abstract}</summary>
    <category term="{category}" scheme="http://arxiv.org/schemas/atom"/>
    <published>{published}T00:00:00Z</published>
    <arxiv:primary_category term="{category}"/>
{authors}  </entry>
"""


class ScholarlyServer(FeedServer):
    def __init__(self, arxiv: dict[str, dict] | None = None,
                 crossref: dict[str, dict] | None = None):
        self.arxiv, self.crossref = arxiv or {}, crossref or {}
        self.requests: list[str] = []
        self.rate_limit = ("50", "1s")  # what api.crossref.org announces to the polite pool
        self.crossref_failures: list[tuple[int, dict[str, str]]] = []
        super().__init__({}, self._respond)

    def _respond(self, path: str) -> tuple[int, str, bytes]:
        self.requests.append(path)
        parts = urlsplit(path)
        if parts.path == "/api/query":
            ids = parse_qs(parts.query).get("id_list", [""])[0].split(",")
            found = [(i, self.arxiv[i]) for i in ids if i in self.arxiv]
            body = ATOM.format(ids=",".join(ids), count=len(found), entries="".join(
                ENTRY.format(id=i, title=escape(p["title"]), abstract=escape(p["abstract"]),
                             category=p.get("category", "cs.CV"),
                             published=p.get("published", "2024-01-01"),
                             authors="".join(f"    <author><name>{escape(a)}</name></author>\n"
                                             for a in p["authors"]))
                for i, p in found)).encode()
            return 200, "application/atom+xml; charset=utf-8", body
        if parts.path.startswith("/works/"):
            limits = {"X-Rate-Limit-Limit": self.rate_limit[0],
                      "X-Rate-Limit-Interval": self.rate_limit[1]}
            if self.crossref_failures:
                status, headers = self.crossref_failures.pop(0)
                return status, "text/plain", b"Too Many Requests" if status == 429 \
                    else b"Internal Server Error", {**limits, **headers}
            work = self.crossref.get(unquote(parts.path[len("/works/"):]).lower())
            if work is None:
                return 404, "text/plain", b"Resource not found.", limits
            return 200, "application/json", json.dumps(
                {"status": "ok", "message-type": "work", "message-version": "1.0.0",
                 "message": work}).encode(), limits
        return 404, "text/plain", b"not found"


def crossref_work(doi: str, title: str, abstract: str | None, authors: list[tuple[str, str]],
                  year: int, *, jats: str | None = None) -> dict:
    """A Crossref `message` as /works/{doi} returns it (abstract in JATS, when deposited;
    `jats` gives the whole JATS markup instead, e.g. sections and inline tags)."""
    work = {"DOI": doi, "type": "journal-article", "title": [title],
            "author": [{"given": g, "family": f, "sequence": "additional", "affiliation": []}
                       for g, f in authors],
            "published": {"date-parts": [[year, 7, 15]]}, "issued": {"date-parts": [[year]]},
            "container-title": ["Nature"], "publisher": "Springer Science and Business Media LLC"}
    if jats:
        work["abstract"] = jats
    elif abstract:
        work["abstract"] = f"<jats:title>Abstract</jats:title><jats:p>{abstract}</jats:p>"
    return work
