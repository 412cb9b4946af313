#!/usr/bin/env bash
# Starts/stops the local Apache Kafka and PostgreSQL used by the integration tests and CI;
# a shell-friendly alias of `heterdaad infra`. Settings come from HETERDAAD_* variables.
#
#   eval "$(infra/services.sh up)"   # exports HETERDAAD_KAFKA_BOOTSTRAP, HETERDAAD_DATABASE_URL, ...
#   infra/services.sh status
#   infra/services.sh down
set -euo pipefail
exec "${PYTHON:-python3}" -m assembly.cli infra "$@"
