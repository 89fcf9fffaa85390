#!/usr/bin/env bash
# Set everything up and run the linter and the whole test suite.
# PostgreSQL tests use $HEARTH_TEST_POSTGRES_URL. CI (.ci/run) starts a server and sets it; when it is
# unset and the server binaries are installed, this script starts a throwaway one for the run and stops
# it on exit (scripts/ci-services.sh); without them those tests are skipped. Redis likewise, with
# $HEARTH_TEST_REDIS_URL and Debian's redis-server.
set -euo pipefail
. "$(dirname "$0")/scripts/setup-env.sh"
cd "$ROOT"
export HEARTH_TEST_DATA_DIR="${HEARTH_TEST_DATA_DIR:-${HEARTH_DATA_DIR:-$ROOT/../shared/data}}"
ruff check hearth tests benchmarks
# Servers this script starts itself are stopped on exit (their own state files: a server someone
# started by hand is left alone).
STARTED=()
cleanup() { for what in "${STARTED[@]}"; do bash "$ROOT/scripts/ci-services.sh" "stop-$what" || true; done; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -z "${HEARTH_TEST_POSTGRES_URL:-}" ]; then
  if bash scripts/ci-services.sh has-postgres; then
    export HEARTH_PG_STATE="${TMPDIR:-/tmp}/hearth-test-postgres.$$.env"
    STARTED+=(postgres)
    if HEARTH_TEST_POSTGRES_URL="$(bash scripts/ci-services.sh start-postgres)"; then
      export HEARTH_TEST_POSTGRES_URL
    else
      unset HEARTH_TEST_POSTGRES_URL
      echo "test.sh: could not start PostgreSQL (see above); PostgreSQL tests will be skipped" >&2
    fi
  else
    echo "test.sh: PostgreSQL server not installed; PostgreSQL tests will be skipped" \
      "(install: sudo bash scripts/ci-services.sh install)" >&2
  fi
fi
if [ -z "${HEARTH_TEST_REDIS_URL:-}" ]; then
  if command -v redis-server >/dev/null 2>&1; then
    export HEARTH_REDIS_STATE="${TMPDIR:-/tmp}/hearth-test-redis.$$.env"
    STARTED+=(redis)
    if HEARTH_TEST_REDIS_URL="$(bash scripts/ci-services.sh start-redis)"; then
      export HEARTH_TEST_REDIS_URL
    else
      unset HEARTH_TEST_REDIS_URL
      echo "test.sh: could not start Redis (see above); Redis tests will be skipped" >&2
    fi
  else
    echo "test.sh: redis-server not installed; Redis tests will be skipped" \
      "(install: sudo bash scripts/ci-services.sh install)" >&2
  fi
fi
python -m pytest -q "$@"
