"""The README welcomes: short, the two commands first, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 250
FIRST_COMMANDS = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/listening demo",
    "bash .ci/test",
)
# Markdown links and images, and HTML src/href attributes.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")


def _first_code_block(text: str) -> list[str]:
    """The lines of the README's first fenced code block."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("```"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    return lines[start + 1 : end]


def test_readme_is_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; at most {MAX_LINES}"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    before_code = text.split("```", 1)[0].strip().splitlines()
    assert before_code == ["# Listening Post"], "only the title may come before the commands"
    commands = [line for line in _first_code_block(text) if line and not line.startswith("#")]
    assert commands == list(FIRST_COMMANDS)


def test_readme_relative_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    targets = [a or b for a, b in LINK.findall(text)]
    relative = [t for t in targets if not re.match(r"[a-z]+:|#", t)]
    assert relative, "the README links to the docs"
    missing = [t for t in relative if not (ROOT / t.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
