#!/usr/bin/env bash
# Instructions per round trip under callgrind: stable where wall time is noisy.
#
# Each row runs twice, with 10k and 60k round trips; (I(60k) - I(10k)) / 50k cancels the
# setup, so what is left is the steady-state cost of one round trip. Counts repeat exactly
# for a given binary. Usage:
#   benches/callgrind.sh                      # S1 for every single-thread row
#   benches/callgrind.sh S2 rsvp-local@mini floor@mini
# Single-threaded scenarios only (S1, S2, batch1/8/32 on rsvp-local@EXEC): with threads,
# the count depends on how often the threads wait for each other.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

scenario=${1:-S1}
shift || true
rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
    for c in floor rsvp-local embassy-noop; do
        for e in mini smol tokio-local; do rows+=("$c@$e"); done
    done
    for c in floor-sync rsvp-sync tokio-mpsc+oneshot tower-buffer futures-mpsc+oneshot \
        async-channel+oneshot flume+flume embassy-cs; do
        for e in mini smol tokio; do rows+=("$c@$e"); done
    done
fi

cargo build --quiet --profile perf -p rsvp-bench
bin="${CARGO_TARGET_DIR:-target}/perf/rsvp-bench"

count() { # $1 row, $2 round trips: the instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --one "$1" "$scenario" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '| contender@exec | %s instructions per round trip |\n|---|---:|\n' "$scenario"
for row in "${rows[@]}"; do
    small=$(count "$row" 10000)
    large=$(count "$row" 60000)
    printf '| %s | %s |\n' "$row" "$(( (large - small) / 50000 ))"
done
