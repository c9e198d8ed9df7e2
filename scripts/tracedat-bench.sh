#!/usr/bin/env bash
# Measure trace.dat ingest against the text of the same trace (docs/PERFORMANCE.md).
#
# usage: scripts/tracedat-bench.sh RUNS OUTDIR [GMEM_AUDIT]
#
# Records one large real trace on this machine's KVM: the capture program of
# scripts/capture-real.sh (Tools/kvm-capture) run RUNS times in a row under one tracefs
# instance (trace_clock=mono, events kvm kvmmmu iommu, 64 MiB per CPU, so nothing is lost),
# then writes OUTDIR/big.dat (`trace-cmd extract`, without kallsyms) and OUTDIR/big.report.txt
# (`trace-cmd report` of it). Then ingests each alone into a new store with GMEM_AUDIT
# (default .build/release/gmem-audit), three times, and prints the best wall time of each with
# MiB/s (of the file as given) and records/s (trace.dat records, or report lines).
# RUNS 0 measures the OUTDIR/big.dat and big.report.txt already there (another build, say).
# Needs root, /dev/kvm, tracefs, cc and trace-cmd; takes the same machine-wide lock as
# capture-real.sh. Exit 77 when it cannot run here.
set -euo pipefail
[ $# -ge 2 ] && [ $# -le 3 ] || { echo "usage: $0 RUNS OUTDIR [GMEM_AUDIT]" >&2; exit 2; }
RUNS=$1
OUT=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUDIT=${3:-$ROOT/.build/release/gmem-audit}
skip() { echo "tracedat-bench: skipped: $*" >&2; exit 77; }
[ -c /dev/kvm ] || skip "no /dev/kvm"
command -v trace-cmd >/dev/null 2>&1 || skip "no trace-cmd"
command -v cc >/dev/null 2>&1 || skip "no cc"
[ -x "$AUDIT" ] || { echo "tracedat-bench: no $AUDIT (swift build -c release)" >&2; exit 1; }
mkdir -p "$OUT"

record() {
exec 8>/tmp/gmem-capture-real.lock
flock 8
TRACEFS=/sys/kernel/tracing
MOUNTED=
if [ ! -d "$TRACEFS/instances" ]; then
	mount -t tracefs nodev "$TRACEFS" 2>/dev/null || skip "tracefs cannot be mounted"
	MOUNTED=1
fi
INSTANCE=$TRACEFS/instances/gmem-bench-$$
TMP=$(mktemp -d)
cleanup() {
	[ -d "$INSTANCE" ] && { echo 0 >"$INSTANCE/tracing_on"; rmdir "$INSTANCE"; }
	rm -rf "$TMP"
	if [ -n "$MOUNTED" ]; then umount "$TRACEFS" 2>/dev/null || true; fi
}
trap cleanup EXIT
cc -O2 -o "$TMP/capture" "$ROOT/Tools/kvm-capture/gmem-kvm-capture.c"
mkdir "$INSTANCE"
echo 0 >"$INSTANCE/tracing_on"
echo mono >"$INSTANCE/trace_clock"
echo 65536 >"$INSTANCE/buffer_size_kb"
for ev in kvm kvmmmu iommu; do [ -e "$INSTANCE/events/$ev/enable" ] && echo 1 >"$INSTANCE/events/$ev/enable"; done
echo 1 >"$INSTANCE/tracing_on"
for i in $(seq "$RUNS"); do
	scenario=punch-and-retouch
	[ $((i % 2)) = 0 ] && scenario=unbind-teardown
	"$TMP/capture" --name "b$i" --scenario $scenario --jsonl /dev/null --truth /dev/null \
		--marker "$INSTANCE/trace_marker" >/dev/null
done
echo 0 >"$INSTANCE/tracing_on"
(cd "$TMP" && unshare -m sh -c 'mount --bind /dev/null /proc/kallsyms && exec "$@"' sh \
	trace-cmd extract -B "gmem-bench-$$" -o "$OUT/big.dat" >/dev/null 2>&1)
trace-cmd report -i "$OUT/big.dat" >"$OUT/big.report.txt" 2>/dev/null
flock -u 8
cleanup
trap - EXIT
}
if [ "$RUNS" != 0 ]; then record; fi

for input in big.dat big.report.txt; do
	best=
	for attempt in 1 2 3; do
		rm -f "$OUT/bench.db" "$OUT/bench.db-wal" "$OUT/bench.db-shm"
		start=$(date +%s.%N)
		"$AUDIT" ingest --db "$OUT/bench.db" --vm vm1 "$OUT/$input" >"$OUT/$input.ingest.txt"
		end=$(date +%s.%N)
		t=$(echo "$end - $start" | bc)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
	done
	size=$(stat -c %s "$OUT/$input")
	records=$(grep -oE '[0-9]+ (records|trace lines) read, [0-9]+ skipped' "$OUT/$input.ingest.txt" | awk '{print $1 + $(NF-1)}')
	added=$(grep -oE '[0-9]+ added' "$OUT/$input.ingest.txt" | awk '{print $1}')
	printf '%-16s %10d bytes %8d records %8d events  %.2f s  %.2f MiB/s  %.0f records/s  %.0f events/s\n' \
		"$input" "$size" "$records" "$added" "$best" "$(echo "$size / 1048576 / $best" | bc -l)" \
		"$(echo "$records / $best" | bc -l)" "$(echo "$added / $best" | bc -l)"
done
