#!/usr/bin/env bash
# Runs the test suite on a fresh machine: makes .venv, installs the project, starts Apache Kafka
# and PostgreSQL (unless HETERDAAD_TEST_KAFKA_BOOTSTRAP / HETERDAAD_TEST_DATABASE_URL name
# running ones), runs ruff, mypy and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Node.js runs the official AsyncAPI parser over the contract (tests/schemas/test_asyncapi_parser.py).
command -v npm >/dev/null || need+=(nodejs npm)
# kcat (librdkafka) reads the embedded broker's topics as a third-party client (tests/infra/test_kcat.py).
command -v kcat >/dev/null || need+=(kcat)
# Headless Chromium drives the desk's browser tests and renders the digest; Pango lets weasyprint
# write the digest's PDF (tests/consumers/test_desk_browser.py, test_digest.py fail without).
[[ -x /usr/bin/chromium ]] || need+=(chromium)
compgen -G "/usr/lib/*/libpangoft2-1.0.so*" >/dev/null || need+=(libpango-1.0-0 libpangoft2-1.0-0)
if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "infra/test.sh: please install ${need[*]} (Debian: sudo apt-get install ${need[*]})" >&2
        exit 2
    fi
fi

[[ -x .venv/bin/python ]] || "${PYTHON:-python3}" -m venv .venv
# Exactly the versions CI tested (requirements-dev.lock, made by `uv pip compile`), then the project.
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .

if [[ -z "${HETERDAAD_TEST_KAFKA_BOOTSTRAP:-}" || -z "${HETERDAAD_TEST_DATABASE_URL:-}" ]]; then
    if [[ $(id -u) == 0 && -z "${HETERDAAD_STATE_DIR:-}" ]]; then
        # As root, PostgreSQL runs as the postgres user, who may not enter this checkout's
        # parents (a clone under /root): keep the services' state under /tmp instead.
        HETERDAAD_STATE_DIR="/tmp/heterdaad-state-$(pwd | sha1sum | cut -c1-12)"
        export HETERDAAD_STATE_DIR
    fi
    # Two steps: `eval "$(…)"` alone would carry on with no services when `infra up` fails.
    exports="$(.venv/bin/heterdaad infra up)"
    eval "$exports"
fi

.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
