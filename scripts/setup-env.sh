# Sourced by run.sh and test.sh: create .venv once and install Hearth into it.
# torch==2.13.0 goes first: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$ROOT/.venv/bin/hearth" ] || [ "$ROOT/pyproject.toml" -nt "$ROOT/.venv/.installed" ]; then
  python3 -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip
  "$ROOT/.venv/bin/python" -m pip install --quiet torch==2.13.0
  "$ROOT/.venv/bin/python" -m pip install --quiet -e "$ROOT[dev]"
  touch "$ROOT/.venv/.installed"
fi
export PATH="$ROOT/.venv/bin:$PATH"
# The shared datasets sit beside the checkout on developer and CI machines.
if [ -z "${HEARTH_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export HEARTH_DATA_DIR="$ROOT/../shared/data"
fi
