#!/usr/bin/env bash
# Reruns every benchmark: the criterion benches (with throwaway Redis and
# PostgreSQL servers from scripts/test) and then the load script.
#   benches/run.sh            # everything
#   benches/run.sh criterion  # only the criterion benches
#   benches/run.sh load       # only benches/load.sh
#   benches/run.sh chart      # only redraw benches/chart.png from the last run
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
if [[ $what == all || $what == criterion ]]; then
    SCRIPTS_TEST_CMD="cargo bench -p benches" scripts/test
    python3 benches/summary.py | tee benches/criterion-results.md
fi
if [[ $what == all || $what == load ]]; then
    bash benches/load.sh
fi
if [[ $what == all || $what == chart ]]; then
    venv=target/bench-venv
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/python" -c "import matplotlib" 2>/dev/null || "$venv/bin/pip" install -q matplotlib
    "$venv/bin/python" benches/chart.py
fi
