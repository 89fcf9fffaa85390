#!/usr/bin/env bash
# Set everything up and run the linter and the whole test suite.
set -euo pipefail
. "$(dirname "$0")/scripts/setup-env.sh"
cd "$ROOT"
export HEARTH_TEST_DATA_DIR="${HEARTH_TEST_DATA_DIR:-${HEARTH_DATA_DIR:-$ROOT/../shared/data}}"
ruff check hearth tests benchmarks
python -m pytest -q "$@"
