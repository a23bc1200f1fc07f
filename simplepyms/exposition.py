"""The Prometheus text format, version 0.0.4, written by hand where it pays.

prometheus_client formats every sample afresh on every scrape: it checks
each label name, escapes each label value and formats each number.  For
the fleet's families that is most of the scrape's cost, and most lines
are the same as last time.  The fleet collector therefore yields
:class:`TextFamily` objects whose lines it has already written (and
keeps from one scrape to the next), and :func:`render` writes those
lines as they are and formats any other family the usual way.

The output is byte for byte what ``generate_latest`` writes for the
same families.  :func:`render_gzip` writes the same text gzipped, and a
family that brings a :class:`Kept` of its own is deflated once and then
served as it was deflated until its collector drops the :class:`Kept`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from simplepyms.gzipped import Deflated, deflate, member

#: Builds a family's samples, for readers that want them rather than text.
SampleBuilder = Callable[[], list[Sample]]
#: Writes a family's sample lines, each ending in a line feed.
LineWriter = Callable[[], list[str]]


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
    # Every last_seen timestamp takes this path: keep it short.
    digits = text.replace(".", "", 1).rstrip("0")
    if len(digits) > 1:
        return f"{digits[0]}.{digits[1:]}{_EXPONENTS[point]}"
    return digits + _EXPONENTS[point]


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
#: The exponent of a value whose repr has its point at that index; repr
#: writes an exponent itself from 1e16 on, so 17 places are enough.
_EXPONENTS = tuple(f"e+{point - 1:02d}" for point in range(18))


def header(name: str, documentation: str, kind: str) -> str:
    """Return the HELP and TYPE lines of a family exposed as *name*."""
    escaped = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


class Kept:
    """A family's text, deflated, kept from one scrape to the next.

    Its collector makes a new one whenever the family's text changes, so
    one that is set is always current.
    """

    __slots__ = ("deflated",)

    def __init__(self) -> None:
        self.deflated: Deflated | None = None


class TextFamily(Metric):
    """A metric family that brings its exposition lines along.

    :func:`render` writes the lines from *lines* as they are, and
    :func:`render_gzip` may not even need them: with a *kept* that holds
    the family deflated, neither the lines nor the samples are made.
    Any other reader gets ``samples`` as usual, built from *build* the
    first time they are read.

    Args:
        name: the family's name; a counter's without ``_total``.
        documentation: the HELP text.
        kind: ``gauge`` or ``counter``.
        lines: writes the sample lines.
        build: returns the same samples as the lines say.
        kept: where the family's text is kept deflated, if anywhere.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        kind: str,
        lines: LineWriter,
        build: SampleBuilder,
        *,
        kept: Kept | None = None,
    ) -> None:
        self._built: list[Sample] | None = None
        self._build = build
        self._lines = lines
        self.kept = kept
        super().__init__(name, documentation, kind)

    def text(self) -> str:
        """Return the HELP and TYPE lines, then the sample lines."""
        exposed = f"{self.name}_total" if self.type == "counter" else self.name
        head = header(exposed, self.documentation, self.type)
        return head + "".join(self._lines())

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
    return "".join(_texts(registry.collect())).encode("utf-8")


def render_gzip(registry: Collector) -> bytes:
    """Return what :func:`render` returns, as one gzip member.

    Each :class:`TextFamily` is a part of its own, and other families
    are grouped into parts between them.  A part whose family keeps it
    deflated is used as kept; the rest are deflated now, and kept where
    their family asks.
    """
    parts: list[Deflated] = []
    loose: list[Metric] = []
    for family in registry.collect():
        if not isinstance(family, TextFamily):
            loose.append(family)
            continue
        if loose:
            parts.append(deflate("".join(_texts(loose)).encode("utf-8")))
            loose = []
        kept = family.kept
        if kept is not None and kept.deflated is not None:
            parts.append(kept.deflated)
            continue
        part = deflate(family.text().encode("utf-8"))
        if kept is not None:
            kept.deflated = part
        parts.append(part)
    if loose:
        parts.append(deflate("".join(_texts(loose)).encode("utf-8")))
    return member(parts)


def _texts(families: Iterable[Metric]) -> Iterator[str]:
    for family in families:
        if isinstance(family, TextFamily):
            yield family.text()
        else:
            yield generate_latest(_One(family)).decode("utf-8")
