"""`python -m bench.run` without its Kafka and PostgreSQL says in one line what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_without_the_test_variables_it_names_them_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        "python -m bench.run: set HETERDAAD_TEST_KAFKA_BOOTSTRAP and "
        'HETERDAAD_TEST_DATABASE_URL to a running Kafka and PostgreSQL, e.g. eval "$(heterdaad '
        'infra up)"'
    ]
