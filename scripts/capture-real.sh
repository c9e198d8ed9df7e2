#!/usr/bin/env bash
# Capture a real kernel trace of a real KVM guest running on guest_memfd memory.
#
# usage: scripts/capture-real.sh [--trace-dat] NAME [OUTDIR]
#
# Builds Tools/kvm-capture/gmem-kvm-capture.c, runs it under its own tracefs
# instance (trace_clock=mono, events kvm/*, kvmmmu/*, iommu/*), and writes
#   OUTDIR/NAME.trace        the instance's `trace` file (tracefs text)
#   OUTDIR/NAME.jsonl        the VMM's own log, gmem JSON Lines (EVENTS.md §2)
#   OUTDIR/NAME.truth.json   what the program knows happened, and the guest's mapped set
#   OUTDIR/NAME.report.txt   the same trace as `trace-cmd report` prints it (if trace-cmd exists)
#   OUTDIR/NAME.dat          with --trace-dat: trace-cmd's binary trace.dat of the same buffers,
#                            from `trace-cmd extract -B INSTANCE` (`trace-cmd record` cannot
#                            enable ftrace on every machine; extract reads the instance's buffers
#                            as they are). Needs trace-cmd: without it the capture is skipped.
#                            /proc/kallsyms is left out of it (GMEM_CAPTURE_KALLSYMS=1 keeps it).
# OUTDIR defaults to seeds/real.  Files are written only when the whole capture succeeded.
#
# NAME picks the scenario when it is one (punch-and-retouch, unbind-teardown);
# otherwise GMEM_CAPTURE_SCENARIO does (default punch-and-retouch).
# GMEM_CAPTURE_EVENTS overrides the event list (space-separated SYSTEM or SYSTEM/EVENT).
# GMEM_CAPTURE_REPORT=0 skips the trace-cmd report.
#
# Exit status: 0 done, 77 skipped (no usable /dev/kvm, tracefs or compiler; the
# reason is one line on stderr), 1 failed, 2 usage.
set -euo pipefail

usage() { echo "usage: $0 [--trace-dat] NAME [OUTDIR]" >&2; exit 2; }
skip() { echo "capture-real: skipped: $*" >&2; exit 77; }
fail() { echo "capture-real: $*" >&2; exit 1; }

TRACEDAT=
if [ "${1:-}" = --trace-dat ]; then TRACEDAT=1; shift; fi
[ $# -ge 1 ] && [ $# -le 2 ] || usage
NAME=$1
[[ $NAME =~ ^[A-Za-z0-9._-]+$ ]] || fail "NAME must be letters, digits, '.', '_' or '-': '$NAME'"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${2:-$ROOT/seeds/real}
SRC=$ROOT/Tools/kvm-capture/gmem-kvm-capture.c
[ -f "$SRC" ] || fail "missing $SRC"

case $NAME in
punch-and-retouch|unbind-teardown) SCENARIO=$NAME ;;
*) SCENARIO=${GMEM_CAPTURE_SCENARIO:-punch-and-retouch} ;;
esac
EVENTS=${GMEM_CAPTURE_EVENTS:-kvm kvmmmu iommu}

# ---- can we run at all? ------------------------------------------------------
[ -e /dev/kvm ] || skip "/dev/kvm does not exist (no KVM on this machine)"
[ -c /dev/kvm ] || skip "/dev/kvm is not a character device"
if ! { exec 9<>/dev/kvm; } 2>/dev/null; then
	skip "/dev/kvm cannot be opened read-write by $(id -un)"
fi
exec 9>&-
command -v cc >/dev/null 2>&1 || skip "no C compiler (cc) to build the capture program"
if [ -n "$TRACEDAT" ]; then command -v trace-cmd >/dev/null 2>&1 || skip "--trace-dat needs trace-cmd (Debian's trace-cmd)"; fi

# ---- one capture at a time on this machine --------------------------------------
# A tracefs instance records the kvm events of every guest on the machine, so a second capture
# running at once (another test, another checkout) would put its guest's lines in this trace.
# The lock is taken before tracefs is looked at: a capture that mounted tracefs unmounts it
# when it ends, and one that found it mounted must not lose it under its feet.
exec 8>/tmp/gmem-capture-real.lock
flock 8

TRACEFS=
MOUNTED=
for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
	if [ -d "$d/instances" ]; then TRACEFS=$d; break; fi
done
if [ -z "$TRACEFS" ]; then
	if [ -d /sys/kernel/tracing ] && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
		TRACEFS=/sys/kernel/tracing
		MOUNTED=1
	else
		skip "tracefs is not mounted and cannot be mounted here (needs root and CONFIG_TRACING)"
	fi
fi
[ -d "$TRACEFS/events/kvm" ] || skip "tracefs has no kvm events (kvm module not loaded?)"
[ -w "$TRACEFS/instances" ] || skip "cannot create a tracefs instance in $TRACEFS/instances (needs root)"

# ---- set up, with cleanup on every exit ----------------------------------------
INSTANCE=$TRACEFS/instances/gmem-capture-$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gmem-capture.XXXXXX")
cleanup() {
	local rc=$?
	if [ -d "$INSTANCE" ]; then
		echo 0 >"$INSTANCE/tracing_on" 2>/dev/null || true
		rmdir "$INSTANCE" 2>/dev/null || echo "capture-real: could not remove $INSTANCE" >&2
	fi
	rm -rf "$TMP"
	if [ -n "$MOUNTED" ]; then umount "$TRACEFS" 2>/dev/null || true; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -Wall -Wextra -o "$TMP/gmem-kvm-capture" "$SRC" 2>"$TMP/cc.log" || {
	cat "$TMP/cc.log" >&2
	fail "building $SRC failed"
}

mkdir "$INSTANCE" || skip "cannot create the tracefs instance $INSTANCE"
echo 0 >"$INSTANCE/tracing_on"
grep -qw mono "$INSTANCE/trace_clock" || fail "this kernel's tracefs has no 'mono' trace_clock"
echo mono >"$INSTANCE/trace_clock"
echo 4096 >"$INSTANCE/buffer_size_kb"
enabled=()
for ev in $EVENTS; do
	if [ -e "$INSTANCE/events/$ev/enable" ]; then
		echo 1 >"$INSTANCE/events/$ev/enable"
		enabled+=("$ev")
	else
		echo "capture-real: no such event here, not enabled: $ev" >&2
	fi
done
[ ${#enabled[@]} -gt 0 ] || fail "none of the events exist: $EVENTS"
: >"$INSTANCE/trace"
echo 1 >"$INSTANCE/tracing_on"

# ---- run ------------------------------------------------------------------------
"$TMP/gmem-kvm-capture" --name "$NAME" --scenario "$SCENARIO" \
	--jsonl "$TMP/$NAME.jsonl" --truth "$TMP/$NAME.truth.json" \
	--marker "$INSTANCE/trace_marker" --tracing-on "$INSTANCE/tracing_on" ||
	fail "the capture program failed (scenario $SCENARIO)"
echo 0 >"$INSTANCE/tracing_on"
cat "$INSTANCE/trace" >"$TMP/$NAME.trace"

# ---- check the trace shows what the program says the guest did -------------------
grep -q 'kvm_mmu_set_spte: gfn ' "$TMP/$NAME.trace" || fail "the trace has no kvm_mmu_set_spte line"
if grep -q 'LOST' "$TMP/$NAME.trace"; then fail "the trace buffer lost events"; fi
touched=$(grep -o '"what": "touch", "gpa": "[^"]*", "size": [0-9]*, "gfns": \[[^]]*\]' "$TMP/$NAME.truth.json" |
	sed 's/.*"gfns": \[//; s/\]//; s/[", ]\+/ /g')
for gfn in $touched; do
	grep -q "kvm_mmu_set_spte: gfn ${gfn#0x} " "$TMP/$NAME.trace" ||
		fail "the guest touched gfn $gfn but the trace has no kvm_mmu_set_spte for it"
done

# ---- trace-cmd report shape (the flags column omitted) ---------------------------
if [ -n "$TRACEDAT" ] || { [ "${GMEM_CAPTURE_REPORT:-1}" != 0 ] && command -v trace-cmd >/dev/null 2>&1; }; then
	# `trace` was read above without consuming; extract reads the raw buffers.
	# With --trace-dat, the kernel's symbol table (/proc/kallsyms, 5 MB that no kvm event needs)
	# is left out of the file: extract runs in its own mount namespace with /dev/null over it.
	extract=(trace-cmd extract -B "gmem-capture-$$" -o "$TMP/trace.dat")
	if [ -n "$TRACEDAT" ] && [ "${GMEM_CAPTURE_KALLSYMS:-0}" = 0 ] && command -v unshare >/dev/null 2>&1; then
		extract=(unshare -m sh -c 'mount --bind /dev/null /proc/kallsyms && exec "$@"' sh "${extract[@]}")
	fi
	if (cd "$TMP" && "${extract[@]}" >"$TMP/extract.log" 2>&1); then
		dat=$(ls "$TMP"/trace.dat* 2>/dev/null | grep -v '^$' | head -n 1)
		[ -n "$dat" ] || fail "trace-cmd extract wrote no trace.dat"
		if [ -n "$TRACEDAT" ]; then cp "$dat" "$TMP/$NAME.dat"; fi
		trace-cmd report -i "$dat" >"$TMP/$NAME.report.txt" 2>"$TMP/report.log" ||
			{ cat "$TMP/report.log" >&2; fail "trace-cmd report failed"; }
	else
		cat "$TMP/extract.log" >&2
		fail "trace-cmd extract failed"
	fi
fi

# ---- publish ---------------------------------------------------------------------
mkdir -p "$OUTDIR"
for f in "$TMP/$NAME".{trace,jsonl,truth.json,report.txt,dat}; do
	[ -f "$f" ] && cp "$f" "$OUTDIR/"
done
echo "capture-real: $SCENARIO -> $OUTDIR/$NAME.{trace,jsonl,truth.json$([ -f "$TMP/$NAME.report.txt" ] && echo ,report.txt)$([ -f "$TMP/$NAME.dat" ] && echo ,dat)}" \
	"($(grep -vc '^#' "$OUTDIR/$NAME.trace") trace lines, events: ${enabled[*]})" >&2
