"""What `heterdaad infra up` exported, kept in the state dir so `infra status` checks that.

The port settings only say where `infra up` would start the services; the addresses it
printed (and the shell evaluated) are what the other commands use.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

EXPORTS_FILE = "infra.env"


def export_lines(exports: Iterable[tuple[str, str]]) -> list[str]:
    """`export NAME=value` lines a shell can evaluate."""
    return [f"export {name}={shlex.quote(value)}" for name, value in exports]


def record(state_dir: Path, exports: Iterable[tuple[str, str]]) -> Path:
    """Write the exports to the state dir (owner-only: the database URL holds a password)."""
    path = state_dir / EXPORTS_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("\n".join(export_lines(exports)) + "\n", encoding="utf-8")
    return path


def recorded(state_dir: Path) -> dict[str, str]:
    """The exports of the last `infra up` in this state dir; empty when there was none."""
    path = state_dir / EXPORTS_FILE
    if not path.is_file():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            found[name] = value
    return found
