"""End to end: services and the Monitor through a real crossbar router."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import REALM, Monitor, Router
from tests.integration.processes import (
    HERE,
    PYTHON,
    Process,
    free_port,
    instances,
    scrape,
    simplepyms,
    value,
    wait_until,
)

StartService = Callable[..., Process]


def _seen(monitor: Monitor, service: Process) -> str:
    """Wait until the Monitor has *service*'s instance up; return its id."""
    wait_until(
        lambda: instances(scrape(monitor.port), service.service).get(
            service.instance
        )
    )
    return service.instance


def _state(monitor: Monitor, service: str, instance: str) -> str | None:
    text = scrape(monitor.port)
    for state in ("up", "late", "down", "stopped"):
        labels = {"service": service, "service_instance": instance}
        if value(text, "simplepyms_service_state", state=state, **labels):
            return state
    return None


def _rejected(text: str, reason: str) -> float:
    found = value(text, "simplepyms_heartbeats_rejected_total", reason=reason)
    return found or 0.0


def _wamp(router: Router, verb: str, uri: str, *args: object) -> str:
    done = subprocess.run(
        [
            PYTHON,
            str(HERE / "wamp_client.py"),
            router.url,
            REALM,
            verb,
            uri,
            json.dumps(list(args)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def _control(router: Router, verb: str, service: str) -> dict[str, str]:
    done = subprocess.run(
        simplepyms(verb, service, "--router-url", router.url),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer: dict[str, str] = json.loads(done.stdout)
    return answer


class TestServicesAppear:
    def test_example_and_host_exporter_are_up_with_metrics(
        self, monitor: Monitor, start_service: StartService
    ) -> None:
        """The README's example and the host exporter show up, with data."""
        adder = _seen(
            monitor,
            start_service([PYTHON, "-m", "simplepyms.example"], name="adder"),
        )
        host = _seen(
            monitor,
            start_service(
                [PYTHON, "-m", "simplepyms.exporters.host", "--name", "hostx"],
                name="hostx",
            ),
        )
        text = scrape(monitor.port)

        assert value(text, "simplepyms_service_up", service_instance=adder)
        assert value(text, "simplepyms_service_up", service_instance=host)
        assert 0 == value(text, "additions_total", service_instance=adder)
        ratio = value(text, "host_cpu_usage_ratio", service_instance=host)
        assert ratio is not None
        assert 0 <= ratio <= 1
        memory = value(text, "host_memory_used_bytes", service_instance=host)
        assert memory is not None
        assert memory > 0
        for name in (
            "host_memory_available_bytes",
            "host_load1",
            "host_load5",
            "host_load15",
            "host_disk_used_bytes",
            "host_disk_usage_ratio",
        ):
            assert value(text, name, service_instance=host) is not None, name

    def test_a_procedure_call_shows_in_the_next_heartbeat(
        self, router: Router, monitor: Monitor, start_service: StartService
    ) -> None:
        """The py.ms.add example answers, and its counter goes up."""
        instance = _seen(
            monitor,
            start_service([PYTHON, "-m", "simplepyms.example"], name="adder"),
        )

        assert "5" == _wamp(router, "call", "py.ms.add", 2, 3).strip()
        wait_until(
            lambda: (
                value(
                    scrape(monitor.port),
                    "additions_total",
                    service_instance=instance,
                )
                == 1
            )
        )

    def test_two_services_carry_their_own_metrics(
        self, monitor: Monitor, start_service: StartService
    ) -> None:
        """Each service's gauge and counter carry its own labels."""
        first = start_service()
        second = start_service()
        one = _seen(monitor, first)
        two = _seen(monitor, second)

        text = scrape(monitor.port)
        assert 7 == value(text, "toy_queue_depth", service=first.service)
        assert 7 == value(text, "toy_queue_depth", service=second.service)
        assert 0 == value(text, "toy_jobs_total", service_instance=one)
        assert 0 == value(text, "toy_jobs_total", service_instance=two)


class TestEndings:
    def test_sigkill_is_down_at_once(
        self, monitor: Monitor, start_service: StartService
    ) -> None:
        """A killed service is down within a second, through its testament."""
        service = start_service()
        instance = _seen(monitor, service)

        service.signal(signal.SIGKILL)

        wait_until(
            lambda: _state(monitor, service.service, instance) == "down",
            timeout=1.0,
        )
        text = scrape(monitor.port)
        assert 0 == value(
            text, "simplepyms_service_up", service_instance=instance
        )
        assert (
            value(text, "toy_queue_depth", service_instance=instance) is None
        )

    def test_a_hung_service_is_down_after_the_timeout(
        self, monitor: Monitor, start_service: StartService
    ) -> None:
        """A frozen process keeps its session; silence makes it down."""
        service = start_service()
        instance = _seen(monitor, service)

        service.signal(signal.SIGSTOP)
        try:
            wait_until(
                lambda: _state(monitor, service.service, instance) == "late",
                timeout=2.0,
            )
            wait_until(
                lambda: _state(monitor, service.service, instance) == "down",
                timeout=3.0,
            )
        finally:
            service.signal(signal.SIGCONT)

    def test_stop_answers_and_is_recorded_as_graceful(
        self, router: Router, monitor: Monitor, start_service: StartService
    ) -> None:
        """simplepyms stop gets a result; the Monitor says stopped."""
        service = start_service()
        instance = _seen(monitor, service)

        answer = _control(router, "stop", service.service)

        assert {"service": service.service, "instance": instance} == {
            k: answer[k] for k in ("service", "instance")
        }
        assert 0 == service.popen.wait(10)
        assert "stopped" == _state(monitor, service.service, instance)

    def test_sigterm_is_a_graceful_stop(
        self, monitor: Monitor, start_service: StartService
    ) -> None:
        """SIGTERM says goodbye, so the Monitor records stopped, not down."""
        service = start_service()
        instance = _seen(monitor, service)

        assert 0 == service.stop()

        wait_until(
            lambda: _state(monitor, service.service, instance) == "stopped",
            timeout=2.0,
        )

    def test_restart_brings_up_a_new_instance(
        self, router: Router, monitor: Monitor, start_service: StartService
    ) -> None:
        """restart re-executes the process; a new instance replaces the old."""
        service = start_service()
        old = _seen(monitor, service)

        _control(router, "restart", service.service)

        def replaced() -> dict[str, float] | None:
            found = instances(scrape(monitor.port), service.service)
            return found if len(found) == 2 else None

        found = wait_until(replaced)
        new = next(i for i in found if i != old)
        wait_until(lambda: _state(monitor, service.service, new) == "up")
        text = scrape(monitor.port)
        assert "stopped" == _state(monitor, service.service, old)
        assert 1 == value(
            text, "simplepyms_service_restarts_total", service=service.service
        )
        assert service.popen.poll() is None


class TestMonitor:
    def test_a_restarted_monitor_finds_live_services_at_once(
        self,
        start_monitor: Callable[..., Monitor],
        start_service: StartService,
    ) -> None:
        """A new Monitor asks for heartbeats instead of waiting an interval."""
        service = start_service(interval="30")
        first = start_monitor()
        first.process.stop()

        second = start_monitor()

        found = wait_until(
            lambda: instances(scrape(second.port), service.service),
            timeout=2.0,
        )
        assert [1.0] == list(found.values())

    def test_malformed_heartbeats_are_counted_and_harmless(
        self, router: Router, monitor: Monitor, start_service: StartService
    ) -> None:
        """Bad heartbeats are rejected by reason; others stay served."""
        service = start_service()
        instance = _seen(monitor, service)
        before = scrape(monitor.port)

        _wamp(
            router,
            "publish",
            "py.ms.heartbeat",
            "not a dict",
            {"v": 1},
            {
                "v": 1,
                "service": "bad name!",
                "instance": "x",
                "seq": 1,
                "started": 1.0,
                "sent": 1.0,
                "interval": 1.0,
                "metrics": {},
            },
        )

        def rejected(reason: str, text: str) -> float:
            return (
                value(
                    text, "simplepyms_heartbeats_rejected_total", reason=reason
                )
                or 0.0
            )

        after = wait_until(
            lambda: (
                text
                if rejected("bad_field", text := scrape(monitor.port))
                > rejected("bad_field", before)
                else None
            )
        )
        for reason in ("not_a_dict", "missing_field", "bad_field"):
            assert 1 == rejected(reason, after) - rejected(reason, before)
        assert 1 == value(
            after, "simplepyms_service_up", service_instance=instance
        )
        monitor.process.wait_for("heartbeat_rejected", reason="not_a_dict")

    def test_a_flood_of_bad_heartbeats_starves_no_one(
        self,
        tmp_path: Path,
        router: Router,
        monitor: Monitor,
        start_service: StartService,
    ) -> None:
        """3,000 bad and oversized heartbeats: good services stay up."""
        # Late means 1.5 intervals unheard: at 2 s, the Monitor would have
        # to fall 3 s behind, which a shared, busy machine alone does not do.
        service = start_service(interval="2")
        instance = _seen(monitor, service)
        before = scrape(monitor.port)
        oversized = {
            "v": 1,
            "service": "flooder",
            "instance": "f1",
            "seq": 1,
            "started": 1.0,
            "sent": 1.0,
            "interval": 1.0,
            "metrics": {f"m{i}_{'x' * 120}": 1 for i in range(999)},
        }
        payload = tmp_path / "flood.json"
        payload.write_text(json.dumps(["junk", {"v": 1}, oversized]))
        flood = subprocess.Popen(
            [
                PYTHON,
                str(HERE / "wamp_client.py"),
                router.url,
                REALM,
                "flood",
                "py.ms.heartbeat",
                f"@{payload}",
                "1000",
            ],
        )
        states = set()
        while flood.poll() is None:
            states.add(_state(monitor, service.service, instance))
            time.sleep(0.1)

        assert 0 == flood.returncode
        assert {"up"} == states
        after = wait_until(
            lambda: (
                text
                if _rejected(text := scrape(monitor.port), "too_large")
                - _rejected(before, "too_large")
                >= 1001
                else None
            ),
            timeout=30,
        )
        assert 1000 == _rejected(after, "not_a_dict") - _rejected(
            before, "not_a_dict"
        )
        assert "up" == _state(monitor, service.service, instance)

    def test_promtool_finds_nothing_wrong(
        self, monitor: Monitor, start_service: StartService
    ) -> None:
        """promtool check metrics passes on the live exposition."""
        start_service()
        host = start_service(
            [PYTHON, "-m", "simplepyms.exporters.host", "--name", "hostp"],
            name="hostp",
        )
        _seen(monitor, host)

        checked = subprocess.run(
            ["promtool", "check", "metrics"],
            input=scrape(monitor.port),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert ("", 0) == (checked.stdout + checked.stderr, checked.returncode)


class TestOutages:
    def test_a_restarted_monitor_remembers_who_died_meanwhile(
        self,
        tmp_path: Path,
        start_monitor: Callable[..., Monitor],
        start_service: StartService,
    ) -> None:
        """Killed while the Monitor was away: back as down, not absent."""
        state = tmp_path / "monitor.sqlite"
        survivor = start_service()
        victim = start_service()
        first = start_monitor(state_file=state)
        _seen(first, survivor)
        _seen(first, victim)
        assert 0 == first.process.stop()

        victim.signal(signal.SIGKILL)
        victim.popen.wait(10)
        second = start_monitor(state_file=state)

        wait_until(
            lambda: (
                _state(second, survivor.service, survivor.instance) == "up"
            ),
            timeout=2.0,
        )
        wait_until(
            lambda: _state(second, victim.service, victim.instance) == "down",
            timeout=3.0,
        )

    def test_a_router_restart_pages_no_one_and_everything_returns(
        self, tmp_path: Path, start_service: StartService
    ) -> None:
        """While the router is away no one is down; then all reconnect."""
        port = free_port()
        router = Router(_own_router(tmp_path, port, "outage-router"), port)
        monitor_port = free_port()
        monitor = Process(
            simplepyms(
                "monitor",
                "--router-url",
                router.url,
                "--listen",
                f"127.0.0.1:{monitor_port}",
                "--state-file",
                str(tmp_path / "outage.sqlite"),
            ),
            tmp_path,
            "outage-monitor",
        )
        second_router = None
        try:
            monitor.wait_for("router_connected")
            service = Process(
                [PYTHON, str(HERE / "toy_service.py"), "outage-toy"],
                tmp_path,
                "outage-toy",
                SIMPLEPYMS_ROUTER_URL=router.url,
                SIMPLEPYMS_REALM=REALM,
                SIMPLEPYMS_HEARTBEAT_INTERVAL="0.5",
            )
            instance = service.wait_for("service_joined")["service_instance"]
            watch = Monitor(monitor, monitor_port)
            wait_until(lambda: _state(watch, "outage-toy", instance) == "up")

            assert 0 == router.process.stop()
            wait_until(
                lambda: (
                    value(
                        scrape(monitor_port),
                        "simplepyms_monitor_router_connected",
                    )
                    == 0
                )
            )
            states = set()
            for _ in range(30):  # 3 s: twice the timeout of 1.5 s
                states.add(_state(watch, "outage-toy", instance))
                time.sleep(0.1)
            assert {"up"} == states

            second_router = _own_router(tmp_path, port, "outage-router-2")
            wait_until(
                lambda: (
                    value(
                        scrape(monitor_port),
                        "simplepyms_monitor_router_connected",
                    )
                    == 1
                ),
                timeout=20,
            )
            wait_until(
                lambda: (
                    len(
                        [
                            e
                            for e in service.events()
                            if e["event"] == "service_joined"
                        ]
                    )
                    == 2
                ),
                timeout=20,
            )
            wait_until(
                lambda: (
                    value(
                        scrape(monitor_port),
                        "simplepyms_service_heartbeats_total",
                        service_instance=instance,
                    )
                    > 0
                ),
            )
            assert "up" == _state(watch, "outage-toy", instance)
            service.stop()
        finally:
            monitor.stop()
            router.process.stop()
            if second_router is not None:
                second_router.stop()
        assert [] == [
            e for e in monitor.events() if e["event"] == "instance_down"
        ]


def _own_router(tmp_path: Path, port: int, name: str) -> Process:
    router = Process(simplepyms("router", "--port", str(port)), tmp_path, name)
    router.wait_for("router_ready", timeout=90)
    return router
