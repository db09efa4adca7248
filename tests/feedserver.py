"""A real HTTP server on 127.0.0.1 serving arXiv-format RSS, for end-to-end tests.

`arxiv_rss` writes a feed in the post-2024 rss.arxiv.org format (announce line in the
description, comma-separated dc:creator, version only in the guid).
"""

from __future__ import annotations

import datetime as dt
import threading
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

# The trailing space (\x20) after the announce type is arXiv's own.
ITEM = """    <item>
      <title>{title}</title>
      <link>https://arxiv.org/abs/{id}</link>
      <description>arXiv:{id}v{version} Announce Type: {announce}\x20
Abstract: {abstract}</description>
      <guid isPermaLink="false">oai:arXiv.org:{id}v{version}</guid>
{categories}      <pubDate>{date}</pubDate>
      <arxiv:announce_type>{announce}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{authors}</dc:creator>
    </item>
"""


def arxiv_rss(category: str, papers: list[dict], when: dt.datetime | None = None) -> bytes:
    when = when or dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    date = format_datetime(when)
    items = "".join(
        ITEM.format(
            id=p["id"], version=p.get("version", 1), announce=p.get("announce", "new"),
            title=escape(p["title"]), abstract=escape(p["abstract"]), date=date,
            authors=escape(", ".join(p["authors"])),
            categories="".join(f"      <category>{c}</category>\n"
                               for c in p.get("categories", [category])),
        )
        for p in papers
    )
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>{category} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{category}</link>
    <description>{category} updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/{category}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{date}</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>{date}</pubDate>
    <skipDays>
      <day>Sunday</day>
      <day>Saturday</day>
    </skipDays>
{items}  </channel>
</rss>
""".encode()


class FeedServer:
    """Serves `routes[path] = bytes`; counts requests per path. `respond(path)`, if given,
    answers first: (status, content type, body[, extra headers]), or None to fall back to the
    routes."""

    def __init__(self, routes: dict[str, bytes], respond=None):
        self.routes = routes
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                answer = respond(self.path) if respond else None
                if answer is not None:
                    status, kind, data, *extra = answer
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    for name, value in (extra[0] if extra else {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                body = server.routes.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
