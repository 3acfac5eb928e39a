#!/usr/bin/env bash
# Install the project with its test extras (torch pinned to the CPU build) and
# run the test suite under a virtual X server. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_CONSTRAINT="$PWD/ci/constraints.txt"
python3 -m pip install -q --upgrade pip >/dev/null 2>&1 || true
python3 -m pip install -q ".[all,test]"
export OMP_NUM_THREADS=2
# run from outside the source tree so the installed wheel (and its bundled
# weights) is what gets tested
exec xvfb-run -a python3 -m pytest -q --rootdir "$PWD" -c "$PWD/pyproject.toml" "$PWD/tests" "$@"
