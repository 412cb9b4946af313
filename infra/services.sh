#!/usr/bin/env bash
# Starts/stops the local Kafka broker and PostgreSQL used by the integration tests and CI.
#
#   eval "$(infra/services.sh up)"   # exports KAFKA_BOOTSTRAP, DATABASE_URL, HETERDAAD_TEST_*
#   infra/services.sh status
#   infra/services.sh down
#
# Overrides (defaults in brackets): HETERDAAD_STATE_DIR [./.heterdaad],
# HETERDAAD_CACHE_DIR [~/.cache/heterdaad], HETERDAAD_KAFKA_PORT [19092],
# HETERDAAD_KAFKA_CONTROLLER_PORT [19093], HETERDAAD_POSTGRES_PORT [15432],
# HETERDAAD_KAFKA_VERSION [4.1.1], PYTHON [python3].
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="${HETERDAAD_STATE_DIR:-$PWD/.heterdaad}"
python="${PYTHON:-python3}"
# Import the modules from this checkout without cd-ing there: the state dir
# belongs to the caller's working directory.
export PYTHONPATH="$repo_root${PYTHONPATH:+:$PYTHONPATH}"

kafka_args=(--state-dir "$state_dir")
pg_args=(--state-dir "$state_dir")
if [[ -n "${HETERDAAD_CACHE_DIR:-}" ]]; then kafka_args+=(--cache-dir "$HETERDAAD_CACHE_DIR"); fi
if [[ -n "${HETERDAAD_KAFKA_PORT:-}" ]]; then kafka_args+=(--port "$HETERDAAD_KAFKA_PORT"); fi
if [[ -n "${HETERDAAD_KAFKA_CONTROLLER_PORT:-}" ]]; then
    kafka_args+=(--controller-port "$HETERDAAD_KAFKA_CONTROLLER_PORT")
fi
if [[ -n "${HETERDAAD_KAFKA_VERSION:-}" ]]; then kafka_args+=(--version "$HETERDAAD_KAFKA_VERSION"); fi
if [[ -n "${HETERDAAD_POSTGRES_PORT:-}" ]]; then pg_args+=(--port "$HETERDAAD_POSTGRES_PORT"); fi

case "${1:-}" in
    up)
        "$python" -m infra.postgres_server up "${pg_args[@]}"
        "$python" -m infra.kafka_broker up "${kafka_args[@]}"
        # Lets tests find the pid files (tests/infra/test_services.py).
        printf 'export HETERDAAD_STATE_DIR=%q\n' "$state_dir"
        ;;
    down)
        # Stop both even if one of them fails.
        rc=0
        "$python" -m infra.kafka_broker down "${kafka_args[@]}" || rc=$?
        "$python" -m infra.postgres_server down "${pg_args[@]}" || rc=$?
        exit "$rc"
        ;;
    status)
        rc=0
        "$python" -m infra.kafka_broker status "${kafka_args[@]}" || rc=$?
        "$python" -m infra.postgres_server status "${pg_args[@]}" || rc=$?
        exit "$rc"
        ;;
    *)
        echo "usage: $0 up|down|status" >&2
        exit 2
        ;;
esac
