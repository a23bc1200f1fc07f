"""The Monitor's HTTP resources, rendered without a server."""

from __future__ import annotations

import gzip
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from simplepyms.collector import CARRIED_HELP, FleetCollector
from simplepyms.monitor import Monitor
from simplepyms.web import LandingPage, MetricsPage, make_site

from .support import exposition, goodbye, payload


def content_type(request: DummyRequest) -> bytes:
    """Return the one Content-Type header set on *request*."""
    headers = request.responseHeaders.getRawHeaders(b"content-type")
    assert headers is not None
    (header,) = headers
    return header


def render(path: bytes, registry: CollectorRegistry) -> DummyRequest:
    """Render GET *path* on the Monitor's site; return the request."""
    request = DummyRequest([path])
    resource = getChildForRequest(make_site(registry).resource, request)
    body = resource.render(request)
    request.write(body)
    return request


def gzipped(registry: CollectorRegistry) -> str:
    """GET /metrics as Prometheus does, gzip accepted; return the text."""
    request = DummyRequest([b""])
    request.requestHeaders.setRawHeaders(b"Accept-Encoding", [b"gzip"])

    body = MetricsPage(registry).render_GET(request)

    return gzip.decompress(body).decode("utf-8")


def carried_order(text: str) -> list[str]:
    """Return the carried families of a page, in the page's order."""
    return [
        line.split()[2]
        for line in text.splitlines()
        if line.startswith("# HELP") and line.endswith(CARRIED_HELP)
    ]


def body(request: DummyRequest) -> str:
    """Return what was written to *request*, decoded."""
    return b"".join(request.written).decode("utf-8")


def realistic(monitor: Monitor, clock: Clock) -> None:
    """Feed two services: carried gauges and counters, one down, one stopped.

    adder has a1 up and a2 stopped; store has s1 up and s2 down.
    """
    carried = {
        "queue_depth": 3,
        "request_duration_seconds": 0.25,
        "additions_total": 41,
        "bytes_written_total": 1024,
    }
    monitor.on_heartbeat(payload(instance="a1", metrics=carried))
    monitor.on_heartbeat(payload(instance="a2", metrics=carried))
    monitor.on_heartbeat(
        payload(
            service="store",
            instance="s2",
            metrics={"rows_total": 5, "cache_ratio": 0.5},
        )
    )
    monitor.on_goodbye(goodbye(instance="a2"))
    for _ in range(20):  # as the Monitor's own sweeper would
        clock.advance(1.0)
        monitor.sweep()
    monitor.on_heartbeat(payload(instance="a1", seq=2, metrics=carried))
    monitor.on_heartbeat(
        payload(
            service="store",
            instance="s1",
            metrics={"rows_total": 9, "cache_ratio": 0.75},
        )
    )
    monitor.on_heartbeat({"bad": "heartbeat"})
    monitor.on_heartbeat(payload(instance="a1", seq=2, metrics=carried))
    monitor.sweep()


class TestMetricsPage:
    """GET /metrics."""

    def test_content_type(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """The page declares the text format, version 0.0.4."""
        request = render(b"metrics", registry)

        assert CONTENT_TYPE_PLAIN_0_0_4.encode() == content_type(request)

    def test_content_type_is_text_plain(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """The page is served as UTF-8 text/plain."""
        request = render(b"metrics", registry)

        assert content_type(request).startswith(b"text/plain;")

    def test_body_is_exposition(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """The body is the registry's exposition."""
        realistic(monitor, clock)

        assert exposition(registry) == body(render(b"metrics", registry))

    def test_body_parses(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """The body parses as the Prometheus text format."""
        realistic(monitor, clock)

        text = body(render(b"metrics", registry))

        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"simplepyms_service_up", "queue_depth", "rows"} <= names

    def test_realistic_scenario(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """The promtool scenario holds an up, a stopped and a down instance."""
        realistic(monitor, clock)

        states = {
            (s.labels["service_instance"], s.labels["state"])
            for family in text_string_to_metric_families(exposition(registry))
            for s in family.samples
            if s.name == "simplepyms_service_state" and s.value == 1.0
        }
        expected = {
            ("a1", "up"),
            ("a2", "stopped"),
            ("s1", "up"),
            ("s2", "down"),
        }
        assert expected == states

    def test_renders_directly(self, registry: CollectorRegistry) -> None:
        """MetricsPage renders an empty registry as an empty body."""
        request = DummyRequest([b""])

        assert b"" == MetricsPage(registry).render(request)

    def test_promtool_accepts(
        self,
        monitor: Monitor,
        clock: Clock,
        registry: CollectorRegistry,
        promtool: str,
    ) -> None:
        """promtool check metrics finds nothing to say about the page."""
        realistic(monitor, clock)
        text = body(render(b"metrics", registry))

        result = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

        assert ("", "", 0) == (result.stdout, result.stderr, result.returncode)


class TestLandingPage:
    """GET /."""

    def test_links_metrics(self, registry: CollectorRegistry) -> None:
        """The landing page links to /metrics."""
        request = render(b"", registry)

        assert 'href="/metrics"' in body(request)

    def test_html(self, registry: CollectorRegistry) -> None:
        """The landing page is UTF-8 HTML."""
        request = render(b"", registry)

        assert b"text/html; charset=utf-8" == content_type(request)

    def test_renders_directly(self) -> None:
        """LandingPage renders on its own as well."""
        page = LandingPage().render(DummyRequest([b""]))

        assert b"/metrics" in page


class TestEncoding:
    def test_gzip_when_the_scraper_accepts_it(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """Prometheus asks for gzip; the body inflates to the exposition."""
        monitor.on_heartbeat(payload())
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"Accept-Encoding", [b"gzip"])

        body = MetricsPage(registry).render_GET(request)

        assert [b"gzip"] == request.responseHeaders.getRawHeaders(
            b"Content-Encoding"
        )
        assert b"simplepyms_service_up" in gzip.decompress(body)

    @pytest.mark.parametrize(
        ("header", "gzipped"),
        [
            (b"gzip", True),
            (b"deflate, gzip", True),
            (b"GZIP;q=0.5", True),
            (b"x-gzip", True),
            (b"*", True),
            (b"", False),
            (b"identity", False),
            (b"gzip;q=0", False),
            (b"identity, gzip; q=0", False),
            (b"*, gzip;q=0", False),
            (b"gzip;q=bad", False),
            (b"*;q=0", False),
        ],
    )
    def test_gzip_only_when_accepted(
        self, registry: CollectorRegistry, header: bytes, gzipped: bool
    ) -> None:
        """gzip is sent when the header accepts it, never when it refuses."""
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"Accept-Encoding", [header])

        body = MetricsPage(registry).render_GET(request)

        vary = request.responseHeaders.getRawHeaders(b"Vary")
        assert [b"Accept-Encoding"] == vary
        encoding = request.responseHeaders.getRawHeaders(b"Content-Encoding")
        assert (gzipped, gzipped) == (
            encoding == [b"gzip"],
            body.startswith(b"\x1f\x8b"),
        )

    @pytest.mark.parametrize("refreshed", [False, True])
    def test_gzipped_page_follows_the_fleet(
        self,
        monitor: Monitor,
        clock: Clock,
        registry: CollectorRegistry,
        refreshed: bool,
    ) -> None:
        """Scrape after scrape, the gzipped page is the page as it is now.

        Each family's text is kept deflated between scrapes; a value, a
        state or an instance that changes still shows at once, whether
        the lines were written between the scrapes or by the scrape.
        """
        monitor.on_heartbeat(payload(metrics={"queue_depth": 3}))
        monitor.on_heartbeat(
            payload(instance="a2", metrics={"queue_depth": 1})
        )
        pages = [gzipped(registry)]

        monitor.on_heartbeat(payload(seq=2, metrics={"queue_depth": 4}))
        if refreshed:
            monitor.collector.refresh()
        pages.append(gzipped(registry))
        monitor.on_goodbye(goodbye(instance="a2"))
        pages.append(gzipped(registry))
        clock.advance(monitor.fleet.retention + 60.0)
        monitor.sweep()
        pages.append(gzipped(registry))

        assert exposition(registry) == pages[-1]
        assert (
            'queue_depth{service="adder",service_instance="a1"} 4.0'
            in (pages[1])
        )
        assert 'state="stopped"} 1.0' in pages[2]
        assert "a2" not in pages[3]

    def test_carried_order_does_not_depend_on_history(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Carried families come in the order a fresh Monitor would give."""
        monitor.on_heartbeat(payload(metrics={"a_bytes": 1, "b_bytes": 2}))
        gzipped(registry)
        monitor.on_heartbeat(
            payload(seq=2, metrics={"b_bytes": 2, "a_bytes": 1})
        )
        fresh = CollectorRegistry()
        fresh.register(FleetCollector(monitor.fleet, clock.seconds))

        page = gzipped(registry)

        assert carried_order(generate_latest(fresh).decode()) == (
            carried_order(page)
        )

    def test_a_path_below_metrics_is_not_found(
        self, registry: CollectorRegistry
    ) -> None:
        """/metrics/anything is a 404, not the metrics again."""
        request = DummyRequest([b"anything"])

        MetricsPage(registry).render_GET(request)

        assert 404 == request.responseCode
