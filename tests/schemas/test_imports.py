"""schemas/ is the bottom layer: it imports third-party libraries and itself, nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
# Our other top-level packages; schemas/ may import none of them, not even under TYPE_CHECKING.
OURS = frozenset({"heterdaad", "streams", "producers", "consumers", "infra", "bench", "tests"})


def _imported(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        # A relative import (level > 0) stays inside schemas/.
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.py")), ids=lambda path: path.name)
def test_schemas_import_nothing_of_ours(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in _imported(tree)
        if module.split(".")[0] in OURS
    ]
    assert not wrong, wrong


def test_the_walk_sees_the_schemas() -> None:
    # A moved package would leave the test above with nothing to check.
    assert {"common.py", "events.py", "wire.py", "distance.py"} <= {
        path.name for path in SCHEMAS.glob("*.py")
    }
