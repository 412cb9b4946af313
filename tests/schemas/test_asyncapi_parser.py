"""The AsyncAPI document is valid to the official parser (@asyncapi/parser), run with Node.

The parser is pinned in infra/asyncapi/package-lock.json and installed there by `npm ci`
(infra/test.sh does it; this test does it too when it is missing). CI installs Node and npm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "infra" / "asyncapi"
DOCUMENT = ROOT / "docs" / "contract" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Node.js and npm to validate the AsyncAPI document")
        pytest.skip("Node.js and npm are not installed here")
    if not (CHECK / "node_modules" / "@asyncapi" / "parser").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=CHECK, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return node


def validate(node: str, document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(CHECK / "validate.mjs"), str(document)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_document_is_valid(node: str) -> None:
    result = validate(node, DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " error " not in f" {result.stdout}"


def test_the_parser_refuses_a_broken_document(node: str, tmp_path: Path) -> None:
    # A channel's message pointing at nothing: the check must be able to fail.
    broken = tmp_path / "asyncapi.yaml"
    text = DOCUMENT.read_text(encoding="utf-8")
    assert "$ref: '#/components/messages/" in text or '$ref: "#/components/messages/' in text
    broken.write_text(
        text.replace("#/components/messages/", "#/components/nothing/", 1), encoding="utf-8"
    )
    result = validate(node, broken)
    assert result.returncode != 0, result.stdout
