"""The packages are layers: each imports only those below it, and the middle three not each other.

    assembly                          the HTTP API and the CLI, composed of all below
    infra                             running the services, migrations, the demo
    producers | streams | consumers   side by side; none imports another
    heterdaad                         the core: settings, thresholds, db, kafka, auth, audit, ...
    schemas                           the contract; imports nothing of ours

Every import counts, also one inside a function or under TYPE_CHECKING: a lazy import is still a
dependency, and a type-only one still ties the packages' code together. bench/ and tests/ stand
outside the house and may import any of it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each package may import besides itself and third-party libraries.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "heterdaad": frozenset({"schemas"}),
    "producers": frozenset({"schemas", "heterdaad"}),
    "streams": frozenset({"schemas", "heterdaad"}),
    "consumers": frozenset({"schemas", "heterdaad"}),
    "infra": frozenset({"schemas", "heterdaad", "producers", "streams", "consumers"}),
    "assembly": frozenset({"schemas", "heterdaad", "producers", "streams", "consumers", "infra"}),
}
OURS = frozenset(MAY_IMPORT) | {"bench", "tests"}


def imported_packages(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the tree, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        # A relative import (level > 0) stays inside its own package.
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            found.append((node.lineno, node.module))
    return found


def wrong_imports(package: str, path: Path, source: str) -> list[str]:
    allowed = MAY_IMPORT[package] | {package}
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imported_packages(ast.parse(source, filename=str(path)))
        if module.split(".")[0] in OURS and module.split(".")[0] not in allowed
    ]


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = [
        problem
        for path in _modules(package)
        for problem in wrong_imports(package, path, path.read_text(encoding="utf-8"))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("package", "source", "reason"),
    [
        # The core reaching up into a side: the CLI or the app would be back in heterdaad/.
        ("heterdaad", "from producers.api import admin\n", "core imports a side"),
        # A side reaching into another, even lazily inside a function.
        ("consumers", "def f():\n    from producers.api.pages import X\n", "lazy cross import"),
        ("producers", "import consumers.notify.admin\n", "plain import of the other side"),
        ("streams", "from consumers import sink\n", "streams imports a consumer"),
        # Type-only imports tie the packages together all the same.
        ("consumers", "if TYPE_CHECKING:\n    from producers.api.intake import Intake\n", "typing"),
        ("schemas", "from heterdaad.settings import Settings\n", "the contract imports the core"),
        ("infra", "from assembly.cli import app\n", "infra imports the top"),
    ],
)
def test_a_reverse_import_is_found(package: str, source: str, reason: str) -> None:
    # The check above would pass on a walk that sees nothing; these show it catches each kind.
    path = ROOT / package / "example.py"
    assert wrong_imports(package, path, source), reason


def test_an_import_downwards_or_outside_is_allowed() -> None:
    source = "import fastapi\nfrom heterdaad.auth import Caller\nfrom schemas import common\n"
    assert not wrong_imports("consumers", ROOT / "consumers" / "example.py", source)


def test_the_walk_sees_every_layer() -> None:
    # A renamed or moved package would leave the check above with nothing to read.
    for package in MAY_IMPORT:
        assert len(_modules(package)) >= 1, package
    assert (ROOT / "assembly" / "api.py").is_file()
    assert (ROOT / "assembly" / "cli.py").is_file()
