"""A one-shot WAMP client for the tests: call a procedure or publish.

``wamp_client.py URL REALM call URI JSON_ARGS`` prints the result as JSON;
``wamp_client.py URL REALM publish TOPIC JSON_ARGS`` publishes each item
of the JSON list as one event's single argument;
``wamp_client.py URL REALM flood TOPIC JSON_ARGS COUNT`` publishes the
list COUNT times, without waiting for acknowledgements.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from autobahn.twisted.component import Component, run
from autobahn.wamp.types import PublishOptions

url, realm, verb, uri, payload = sys.argv[1:6]
count = int(sys.argv[6]) if len(sys.argv) > 6 else 1
if payload.startswith("@"):  # too long for a command line: from a file
    payload = Path(payload[1:]).read_text()
component = Component(transports=[{"url": url, "max_retries": 0}], realm=realm)


@component.on_join  # type: ignore[untyped-decorator]
async def joined(session: Any, details: Any) -> None:
    """Do the one thing asked, then leave."""
    if verb == "call":
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
    await session.leave()


if __name__ == "__main__":
    run(component, log_level=None)
