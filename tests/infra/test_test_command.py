"""The README's test command installs what the tests need, as CI does before it runs it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Playwright drives Debian's chromium itself; no test goes through a WebDriver.
NOT_NEEDED = {"chromium-driver"}


def _ci_packages() -> set[str]:
    """What .ci/run installs with apt before it runs infra/test.sh."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(r"apt-get install -y -qq ([^>\n]+)", script)
    assert found, "no apt-get install in .ci/run"
    return set(found[1].split())


def _test_command_packages() -> set[str]:
    """What infra/test.sh installs where it is missing."""
    script = (ROOT / "infra" / "test.sh").read_text(encoding="utf-8")
    return {name for group in re.findall(r"need\+=\(([^)]*)\)", script) for name in group.split()}


def test_the_test_command_installs_what_ci_installs() -> None:
    # infra/test.sh did not install chromium and Pango: on a fresh machine the browser tests
    # and the digest's PDF failed, though README.md says the command is all a newcomer needs.
    missing = _ci_packages() - NOT_NEEDED - _test_command_packages()
    assert not missing, f"infra/test.sh does not install {sorted(missing)}"
