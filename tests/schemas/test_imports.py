"""schemas/ is the bottom layer: it imports third-party libraries and itself, nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_layers import imported_packages

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
# Our other top-level packages; schemas/ may import none of them, not even under TYPE_CHECKING.
OURS = frozenset({"heterdaad", "streams", "producers", "consumers", "infra", "assembly", "bench",
                  "tests"})  # fmt: skip


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.py")), ids=lambda path: path.name)
def test_schemas_import_nothing_of_ours(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in imported_packages(tree)
        if module.split(".")[0] in OURS
    ]
    assert not wrong, wrong


def test_the_walk_sees_the_schemas() -> None:
    # A moved package would leave the test above with nothing to check.
    assert {"common.py", "events.py", "wire.py", "distance.py"} <= {
        path.name for path in SCHEMAS.glob("*.py")
    }
