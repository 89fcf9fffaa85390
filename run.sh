#!/usr/bin/env bash
# Set everything up and run the main job. With no arguments: the quick quality benchmark
# on MovieLens-1M (downloads it first when it is not in the data directory).
# With arguments: `bash run.sh <hearth command ...>`, e.g. `bash run.sh bench quality -d lastfm-2k`.
set -euo pipefail
. "$(dirname "$0")/scripts/setup-env.sh"
if [ "$#" -gt 0 ]; then
  exec hearth "$@"
fi
hearth data check ml-1m >/dev/null 2>&1 || hearth data download ml-1m
exec hearth bench quality --dataset ml-1m --quick
