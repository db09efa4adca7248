"""GET /metrics: the Prometheus exposition, for the operator's scraper only.

Protected exactly like /admin (`admin.operator`: ADMIN_TOKEN in `Authorization: Bearer` or
`X-Admin-Token`, or the sign-in cookie; 404 without ADMIN_TOKEN). What is counted, and how
the workers' counts reach this process, is `newsletter.core.metrics`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.core import metrics
from newsletter.core.config import get_settings
from newsletter.web.admin import operator

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def scrape(request: Request) -> Response:
    if (denied := operator(request, json=True)) is not None:
        return denied
    from workers.celery_app import QUEUES  # the queue names, from the one place they are set

    body, content_type = metrics.exposition(get_settings().redis_url, QUEUES)
    return Response(body, media_type=content_type)
