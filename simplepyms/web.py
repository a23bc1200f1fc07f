"""The Monitor's HTTP side: ``/metrics`` and a landing page."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from simplepyms.exposition import render, render_gzip

LANDING = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>simplepyms Monitor</title></head>
<body><h1>simplepyms Monitor</h1>
<p><a href="/metrics">Metrics</a></p></body></html>
"""


class MetricsPage(Resource):
    """Serve the registry in the Prometheus text format.

    The page renders on the reactor thread, the same thread that updates
    the fleet, so a scrape always sees one consistent moment.  Families
    that bring their own text (the fleet's) are written as they are, and
    gzipped ones that did not change since the last scrape are sent as
    they were compressed then.
    """

    isLeaf = True  # noqa: N815 - Twisted's name

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        """Return the exposition, gzipped if the scraper accepts it."""
        if request.postpath and request.postpath != [b""]:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"Not found: the metrics are at /metrics\n"
        request.setHeader(b"Content-Type", CONTENT_TYPE_PLAIN_0_0_4.encode())
        # Either answer depends on the header, so a cache must know.
        request.setHeader(b"Vary", b"Accept-Encoding")
        if accepts_gzip(request.getHeader(b"Accept-Encoding") or b""):
            request.setHeader(b"Content-Encoding", b"gzip")
            return render_gzip(self._registry)
        return render(self._registry)


def accepts_gzip(header: bytes) -> bool:
    """Whether an ``Accept-Encoding`` header lets the body be gzipped.

    ``gzip`` or ``x-gzip`` with a weight above 0 does, and so does ``*``
    when gzip is not named; a weight of 0 refuses (RFC 9110, 12.5.3).
    """
    anything = False
    for item in header.lower().split(b","):
        coding, _, parameters = item.partition(b";")
        weight = 1.0
        for parameter in parameters.split(b";"):
            key, _, value = parameter.partition(b"=")
            if key.strip() == b"q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        coding = coding.strip()
        if coding in (b"gzip", b"x-gzip"):
            return weight > 0
        if coding == b"*":
            anything = weight > 0
    return anything


class LandingPage(Resource):
    """Point a person who opens the root at ``/metrics``."""

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        """Return the landing page."""
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        return LANDING


class QuietSite(Site):
    """A site that writes no access log line per scrape."""

    def log(self, request: http.Request) -> None:
        """Log nothing: a scrape is not an event."""


def make_site(registry: CollectorRegistry) -> Site:
    """Return the site that serves the Monitor."""
    root = LandingPage()
    root.putChild(b"", root)
    root.putChild(b"metrics", MetricsPage(registry))
    return QuietSite(root)
