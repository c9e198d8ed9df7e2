#!/usr/bin/env bash
# Renders the HTML report of a seed scenario to a PNG with headless Chromium, to look at it as a
# person would. Installs Chromium (Debian package) when it is missing.
#
#   scripts/render-report.sh [SCENARIO-PREFIX] [OUT.png]
#
# SCENARIO-PREFIX picks seeds/scenarios/PREFIX*.jsonl (default 12); OUT defaults to
# docs/report-<scenario>.png. Set GMEM_AUDIT to use a built binary other than .build/release.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-12}
scenario=$(ls "$root"/seeds/scenarios/"$prefix"*.jsonl | head -n 1)
name=$(basename "$scenario" .jsonl)
out=${2:-$root/docs/report-$name.png}

binary=${GMEM_AUDIT:-$root/.build/release/gmem-audit}
if [ ! -x "$binary" ]; then
    (cd "$root" && swift build -c release --product gmem-audit)
fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    apt-get update -qq && apt-get install -y -qq chromium
    browser=$(command -v chromium)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$binary" ingest --db "$work/store.db" "$scenario" > /dev/null
# The audit stores the findings the report marks (it exits 1 when it finds errors: expected here).
"$binary" audit --db "$work/store.db" > /dev/null 2>&1 || [ $? -eq 1 ]
"$binary" report --db "$work/store.db" --out "$work/report.html" --columns 600 --rows 64 > /dev/null

# Tall enough for every lane and both tables of a seed scenario.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1000,1400 --screenshot="$out" "file://$work/report.html" 2> "$work/chromium.log" \
    || { cat "$work/chromium.log" >&2; exit 1; }
echo "wrote $out from $scenario"
