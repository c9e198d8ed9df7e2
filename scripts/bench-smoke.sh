#!/usr/bin/env bash
# A seconds-long run of the benchmark so that it cannot rot: builds gmem-bench and runs every
# figure on a tiny generated log. It checks that the benchmark still runs and that gmem still
# writes the same rows as the raw C baseline (gmem-bench fails otherwise); it does not judge
# the figures, which mean nothing at this size.
# Usage: scripts/bench-smoke.sh   (BENCH_CONFIGURATION=release to use a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-debug}"
swift build -c "$configuration" --product gmem-bench
bin="$(swift build -c "$configuration" --show-bin-path)/gmem-bench"
"$bin" run --events 3000 --queries 3 --conversions 2000
"$bin" memory --events 3000 --gmem-size 1T --batch 1000
"$bin" runs --conversions 2000
