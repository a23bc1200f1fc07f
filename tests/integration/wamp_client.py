"""A one-shot WAMP client for the tests: call a procedure or publish.

``wamp_client.py URL REALM call URI JSON_ARGS`` prints the result as JSON;
``wamp_client.py URL REALM publish TOPIC JSON_ARGS`` publishes each item
of the JSON list as one event's single argument;
``wamp_client.py URL REALM flood TOPIC JSON_ARGS COUNT`` publishes the
list COUNT times, without waiting for acknowledgements;
``wamp_client.py URL REALM register URI []`` and ``... subscribe TOPIC
[]`` try just that and print ``"ok"``.

With ``SIMPLEPYMS_AUTHID`` and ``SIMPLEPYMS_SECRET`` set it logs in with
WAMP-CRA.  A refused action prints ``{"error": URI}``; a refused login
exits with status 3 after printing the same.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from autobahn.twisted.component import Component, run
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, RegisterOptions

url, realm, verb, uri, payload = sys.argv[1:6]
count = int(sys.argv[6]) if len(sys.argv) > 6 else 1
if payload.startswith("@"):  # too long for a command line: from a file
    payload = Path(payload[1:]).read_text()
secret = os.environ.get("SIMPLEPYMS_SECRET")
authentication = (
    {}
    if secret is None
    else {
        "wampcra": {
            "authid": os.environ["SIMPLEPYMS_AUTHID"],
            "secret": secret,
        }
    }
)
component = Component(
    transports=[{"url": url, "max_retries": 0}],
    realm=realm,
    authentication=authentication,
)


@component.on_join  # type: ignore[untyped-decorator]
async def joined(session: Any, details: Any) -> None:
    """Do the one thing asked, then leave."""
    try:
        await act(session)
    except ApplicationError as refused:
        sys.stdout.write(json.dumps({"error": refused.error}) + "\n")
    await session.leave()


@component.on_leave  # type: ignore[untyped-decorator]
def left(session: Any, details: Any) -> None:
    """Tell a refused login apart from a refused action."""
    if details.reason.startswith("wamp.error."):
        sys.stdout.write(json.dumps({"error": details.reason}) + "\n")
        sys.stdout.flush()
        os._exit(3)


async def act(session: Any) -> None:
    """Do the one thing asked."""
    if verb == "register":
        # Shared, as services share stop and restart: the router then
        # has no other reason than the role to refuse.
        await session.register(
            lambda *_: None, uri, options=RegisterOptions(invoke="roundrobin")
        )
        sys.stdout.write('"ok"\n')
    elif verb == "subscribe":
        await session.subscribe(lambda *_: None, uri)
        sys.stdout.write('"ok"\n')
    elif verb == "call":
        result = await session.call(uri, *json.loads(payload))
        sys.stdout.write(json.dumps(result) + "\n")
    elif verb == "flood":
        items = json.loads(payload)
        for _ in range(count):
            for item in items:
                session.publish(uri, item)
        # One acknowledged publish at the end: everything before it is out.
        await session.publish(
            uri, items[-1], options=PublishOptions(acknowledge=True)
        )
    else:
        for item in json.loads(payload):
            await session.publish(
                uri, item, options=PublishOptions(acknowledge=True)
            )
        sys.stdout.write('"ok"\n')


if __name__ == "__main__":
    run(component, log_level=None)
