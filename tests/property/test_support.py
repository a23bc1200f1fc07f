"""The exposition checks themselves catch what they are meant to catch."""

from __future__ import annotations

import pytest

from .support import check_exposition, rig, scrape

GOOD_TEXT = """\
# HELP a_total Help.
# TYPE a_total counter
a_total{service="s"} 1.0
"""


class TestCheckExposition:
    """check_exposition() refuses each kind of broken text."""

    def test_accepts_good_text(self) -> None:
        """A well-formed exposition passes and yields its one sample."""
        samples = check_exposition(GOOD_TEXT)

        assert ["a_total"] == [sample.name for sample in samples]

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param(GOOD_TEXT + GOOD_TEXT, id="family-twice"),
            pytest.param(
                GOOD_TEXT + 'a_total{service="s"} 2.0\n', id="series-twice"
            ),
            pytest.param(
                GOOD_TEXT.replace("service=", "job="), id="job-label"
            ),
            pytest.param(
                GOOD_TEXT.replace("service=", "instance="),
                id="instance-label",
            ),
            pytest.param(
                '# HELP b x\n# TYPE b gauge\n{"b.c",service="s"} 1.0\n',
                id="utf8-name",
            ),
        ],
    )
    def test_refuses(self, text: str) -> None:
        """A repeated family or series, or a scrape label, fails the check."""
        with pytest.raises(AssertionError):
            check_exposition(text)

    def test_empty_monitor_scrapes(self) -> None:
        """A fresh Monitor's page passes and holds no instance."""
        page = scrape(rig().registry)

        assert {} == page.states
