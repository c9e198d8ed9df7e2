#!/usr/bin/env bash
# Measures the audit of a generated log against replay alone, in a release build.
# Usage: scripts/measure-audit.sh [EVENTS]   (default 1,000,000). Prints both times and the ratio;
# fails when the audit with all fourteen rules costs 2x replay or more.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-1000000}"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
GMEM_AUDIT_EVENTS="$events" GMEM_AUDIT_REPORT="$report" \
    swift test -c release --filter 'AuditCostTests' >&2
cat "$report"
