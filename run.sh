#!/usr/bin/env bash
# Set everything up and run the main job. With no arguments: the app with a demo community,
# `hearth demo` in the repository root: it seeds hearth.db (LastFM-2k from the data directory,
# ../shared/data when present, else a clearly labelled synthetic community), trains the unified
# model on it with the quick budget, and serves http://127.0.0.1:8000/, printing the URL and the
# demo log-in. Running it again reuses the seeded database and the trained model.
# With arguments: `bash run.sh <hearth command ...>`, e.g. `bash run.sh bench quality -d lastfm-2k`.
set -euo pipefail
. "$(dirname "$0")/scripts/setup-env.sh"
if [ "$#" -gt 0 ]; then
  exec hearth "$@"
fi
cd "$ROOT"
exec hearth demo
