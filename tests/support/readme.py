"""The commands of a README section, so tests run exactly what the README shows."""

from __future__ import annotations

import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands(heading: str) -> list[list[str]]:
    """The ``poc`` commands in the first ```bash block under ``## heading``, as argv lists
    without the leading ``poc`` (trailing ``# comments`` dropped)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {heading}")
    block = text[text.index("```bash", start) + len("```bash") : text.index("```\n", start + 1)]
    commands = []
    for line in block.strip().splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "poc", f"README line is not a poc command: {line}"
        commands.append(argv[1:])
    return commands
