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
from simplepyms.transport import REFUSAL_HINT, REFUSALS

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
        refused: list[str] = []

        @component.on_leave  # type: ignore[untyped-decorator]
        def left(session: Any, details: Any) -> None:
            if details.reason in REFUSALS:
                refused.append(details.reason)

        @component.on_join  # type: ignore[untyped-decorator]
        async def joined(session: Any, details: Any) -> None:
            try:
                answer.append(await session.call(uri, timeout=CALL_TIMEOUT))
            except ApplicationError as problem:
                answer.append(problem)
            await session.leave()

        try:
            await component.start(reactor)
        except Exception as problem:
            if refused:
                raise UsageError(
                    f"the router at {url} refused the session: {refused[0]}"
                    f" ({REFUSAL_HINT})"
                ) from None
            raise UsageError(
                f"cannot reach the router at {url}: {problem}"
            ) from problem
        if not answer:
            raise UsageError(f"the router at {url} closed the session")
        if isinstance(answer[0], ApplicationError):
            raise UsageError(_failed(uri, service, answer[0].error))
        sys.stdout.write(json.dumps(answer[0]) + "\n")

    return run_reactor(main, f"simplepyms {verb}")


def _failed(uri: str, service: str, error: str) -> str:
    if error == ApplicationError.NO_SUCH_PROCEDURE:
        return f"no instance of {service} is running ({uri} is not registered)"
    if error == ApplicationError.NOT_AUTHORIZED:
        return (
            f"the router does not let this identity call {uri}"
            " (on the secure router only the admin role may)"
        )
    return f"{uri} failed: {error}"
