"""``simplepyms stop`` and ``simplepyms restart``: ask a service to go."""

from __future__ import annotations

import json
import sys
from typing import Any

from autobahn.twisted.component import Component
from autobahn.wamp.exception import ApplicationError

from simplepyms import protocol
from simplepyms.errors import UsageError
from simplepyms.serve import run_reactor

CALL_TIMEOUT = 10.0


def call_control(
    url: str,
    realm: str,
    service: str,
    verb: str,
    authentication: dict[str, Any] | None = None,
) -> int:
    """Call ``py.ms.<service>.<verb>``, print its result as JSON.

    Returns the exit status: 0 when the service answered.
    """
    try:
        protocol.check_service_name(service)
    except protocol.InvalidServiceName as problem:
        raise UsageError(str(problem)) from problem
    uri = (
        protocol.stop_uri(service)
        if verb == "stop"
        else protocol.restart_uri(service)
    )

    async def main(reactor: Any) -> None:
        component = Component(
            transports=[{"url": url, "max_retries": 0}],
            realm=realm,
            authentication=authentication or {},
        )
        answer: list[Any] = []

        @component.on_join  # type: ignore[untyped-decorator]
        async def joined(session: Any, details: Any) -> None:
            try:
                answer.append(await session.call(uri, timeout=CALL_TIMEOUT))
            except ApplicationError as problem:
                answer.append(problem)
            await session.leave()

        try:
            await component.start(reactor)
        except ApplicationError as problem:
            raise UsageError(
                f"the router at {url} refused the session: {problem.error}"
                " (check --realm, --authid and the secret)"
            ) from problem
        except Exception as problem:
            raise UsageError(
                f"cannot reach the router at {url}: {problem}"
            ) from problem
        if not answer:
            raise UsageError(f"the router at {url} closed the session")
        if isinstance(answer[0], ApplicationError):
            raise UsageError(f"{uri} failed: {answer[0].error}")
        sys.stdout.write(json.dumps(answer[0]) + "\n")

    return run_reactor(main)
