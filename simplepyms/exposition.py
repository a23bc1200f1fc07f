"""The Prometheus text format, version 0.0.4, written by hand where it pays.

prometheus_client formats every sample afresh on every scrape: it checks
each label name, escapes each label value and formats each number.  For
the fleet's families that is most of the scrape's cost, and most lines
are the same as last time.  The fleet collector therefore yields
:class:`TextFamily` objects whose lines it has already written (and
keeps from one scrape to the next), and :func:`render` writes those
lines as they are and formats any other family the usual way.

The output is byte for byte what ``generate_latest`` writes for the
same families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

#: Builds a family's samples, for readers that want them rather than text.
SampleBuilder = Callable[[], list[Sample]]


def label_value(text: str) -> str:
    """Escape *text* for use between the quotes of a label value."""
    if "\\" in text or '"' in text or "\n" in text:
        text = (
            text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        )
    return text


def label_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """Return ``name="value",...`` for *pairs*, names already valid."""
    return ",".join(f'{name}="{label_value(value)}"' for name, value in pairs)


def number(value: float) -> str:
    """Format *value* as prometheus_client does: repr, +Inf, NaN.

    Like Go, and so like prometheus_client, a positive value with more
    than six digits before the point is written with an exponent.
    """
    text = repr(float(value))
    # Only "nan", "inf" and "-inf" hold an n.
    if "n" in text:
        return _SPECIAL[text]
    point = text.find(".")
    # No point means repr chose an exponent already.
    if point <= 6 or value < 0:
        return text
    digits = (text[:point] + text[point + 1 :]).rstrip("0")
    mantissa = f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else digits
    return f"{mantissa}e+{point - 1:02d}"


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def header(name: str, documentation: str, kind: str) -> str:
    """Return the HELP and TYPE lines of a family exposed as *name*."""
    escaped = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


class TextFamily(Metric):
    """A metric family that brings its exposition lines along.

    :func:`render` writes :attr:`lines` as they are.  Any other reader gets
    ``samples`` as usual: they are built from *build* the first time
    they are read, so a scrape through :func:`render` never pays for
    them.

    Args:
        name: the family's name; a counter's without ``_total``.
        documentation: the HELP text.
        kind: ``gauge`` or ``counter``.
        lines: the sample lines, each ending in a line feed.
        build: returns the same samples as *lines* say.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        kind: str,
        lines: list[str],
        build: SampleBuilder,
    ) -> None:
        self._built: list[Sample] | None = None
        self._build = build
        super().__init__(name, documentation, kind)
        exposed = f"{name}_total" if kind == "counter" else name
        #: The HELP and TYPE lines, then the sample lines.
        self.lines = [header(exposed, documentation, kind), *lines]

    @property
    def samples(self) -> list[Sample]:
        """The family's samples, built when first read."""
        if self._built is None:
            self._built = self._build()
        return self._built

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        # Metric.__init__ sets an empty list; only a non-empty list
        # replaces what build would make.
        self._built = value or None


class _One(Collector):
    """A collector that yields one family, for ``generate_latest``."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        """Yield the one family."""
        yield self._family


def render(registry: Collector) -> bytes:
    """Return the text exposition of every family *registry* collects.

    A :class:`TextFamily` is written as it is; any other family is
    formatted by prometheus_client, so the result equals
    ``generate_latest(registry)``.
    """
    # One join and one encoding for the whole page: it is large.
    parts: list[str] = []
    for family in registry.collect():
        if isinstance(family, TextFamily):
            parts.extend(family.lines)
        else:
            parts.append(generate_latest(_One(family)).decode("utf-8"))
    return "".join(parts).encode("utf-8")
