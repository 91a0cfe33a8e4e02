"""bench/RESULTS.md sections: regenerating one keeps the others byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.results_md import replace_section, write_section


def test_a_section_is_replaced_and_the_rest_kept() -> None:
    text = (
        "# Results\n\nintro\n\n<!-- section: redbeat -->\nold\n<!-- end section: redbeat -->\n"
        "\n<!-- section: postgresql -->\ntheirs\n<!-- end section: postgresql -->\ntail\n"
    )
    new = replace_section(text, "redbeat", "new table")
    assert "old" not in new and "new table" in new
    assert new.startswith("# Results\n\nintro\n\n<!-- section: redbeat -->")
    assert new.endswith(
        "\n<!-- section: postgresql -->\ntheirs\n<!-- end section: postgresql -->\ntail\n"
    )
    assert replace_section(new, "redbeat", "new table") == new


def test_a_missing_section_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n")
    write_section(path, "million", "figures")
    assert path.read_text() == (
        "# Results\n\n<!-- section: million -->\n\nfigures\n\n<!-- end section: million -->\n"
    )


def test_unbalanced_markers_are_refused() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        replace_section("<!-- section: redbeat -->\n", "redbeat", "x")
