"""Logging set-up for the entry points: structlog, as text or JSON.

Only the command line calls :func:`configure`; the library itself only
asks structlog for loggers.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog
from twisted.logger import (
    ILogObserver,
    LogLevel,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

from simplepyms.throttle import Throttle
from simplepyms.transport import REFUSALS

FORMATS = ("console", "json")
LEVELS = ("debug", "info", "warning", "error")


def configure(fmt: str = "console", level: str = "info") -> None:
    """Send structlog events to stderr as *fmt*, from *level* up.

    Twisted's and autobahn's own log events are bridged in too, from
    error up: their routine reconnect chatter stays out.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    globalLogBeginner.beginLoggingTo(
        [_Bridge()], discardBuffer=True, redirectStandardIO=False
    )


#: autobahn logs each failed connection attempt, each lost session and
#: each refusal as an error; simplepyms reports those itself, once.
_ROUTINE = (
    "Connection failed",
    "wamp.close.transport_lost",
    *sorted(REFUSALS),
)
#: The same library error is passed on at most this often.
REPEAT_SECONDS = 60.0


@implementer(ILogObserver)
class _Bridge:
    """Pass Twisted's and autobahn's errors on to structlog."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("twisted")
        self._repeats = Throttle(time.monotonic, REPEAT_SECONDS)

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if level is None or level < LogLevel.error:
            return
        text = formatEvent(event)
        if text.startswith(_ROUTINE):
            return
        if not self._repeats.due(
            (event.get("log_namespace"), event.get("log_format"))
        ):
            return
        failure = event.get("log_failure")
        self._log.error(
            "library_error",
            namespace=event.get("log_namespace"),
            text=text,
            error=None if failure is None else failure.getErrorMessage(),
            kind=None if failure is None else failure.type.__name__,
        )
