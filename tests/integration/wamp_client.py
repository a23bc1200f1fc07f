"""A one-shot WAMP client for the tests: call a procedure or publish.

``wamp_client.py URL REALM call URI JSON_ARGS`` prints the result as JSON;
``wamp_client.py URL REALM publish TOPIC JSON_ARGS`` publishes each item
of the JSON list as one event's single argument.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from autobahn.twisted.component import Component, run
from autobahn.wamp.types import PublishOptions

url, realm, verb, uri, payload = sys.argv[1:6]
component = Component(transports=[{"url": url, "max_retries": 0}], realm=realm)


@component.on_join  # type: ignore[untyped-decorator]
async def joined(session: Any, details: Any) -> None:
    """Do the one thing asked, then leave."""
    if verb == "call":
        result = await session.call(uri, *json.loads(payload))
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        for item in json.loads(payload):
            await session.publish(
                uri, item, options=PublishOptions(acknowledge=True)
            )
    await session.leave()


if __name__ == "__main__":
    run(component, log_level=None)
