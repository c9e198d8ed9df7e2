#!/usr/bin/env bash
# Checks that `gmem-audit audit --format sarif` writes valid SARIF 2.1.0, and that the validator
# really rejects invalid documents. Installs the PyPI package sarif-pydantic when missing.
# Usage: scripts/validate-sarif.sh [path/to/gmem-audit]   (default: builds and uses .build/debug)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
binary="${1:-}"
if [[ -z "$binary" ]]; then
    swift build --product gmem-audit >&2
    binary="$root/.build/debug/gmem-audit"
fi
if ! python3 -c 'import sarif_pydantic' 2>/dev/null; then
    python3 -m pip install --quiet 'sarif-pydantic==0.6.2' >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
validator="$root/scripts/validate-sarif.py"

# Every seed scenario in one store: findings of all fourteen rules.
"$binary" ingest --db "$work/seeds.db" seeds/scenarios/*.jsonl >/dev/null
status=0
"$binary" audit --db "$work/seeds.db" --format sarif >"$work/seeds.sarif" 2>/dev/null || status=$?
[[ $status -le 1 ]] || { echo "audit failed with exit $status" >&2; exit 1; }
python3 "$validator" "$work/seeds.sarif"
results=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["runs"][0]["results"]))' "$work/seeds.sarif")
[[ "$results" -gt 0 ]] || { echo "the seeds' SARIF has no results" >&2; exit 1; }

# With a policy that suppresses findings (SARIF suppressions) and changes a level.
cat >"$work/policy.yaml" <<'POLICY'
rules:
  GM-R13:
    severity: notice
exceptions:
  - reason: scenario 03 is a known incident
    vm: td03
POLICY
status=0
"$binary" audit --db "$work/seeds.db" --format sarif --policy "$work/policy.yaml" --show-suppressed >"$work/policy.sarif" 2>/dev/null || status=$?
[[ $status -le 1 ]] || { echo "audit --policy failed with exit $status" >&2; exit 1; }
python3 "$validator" "$work/policy.sarif"

# An empty store: a valid log with no results.
"$binary" ingest --db "$work/empty.db" seeds/scenarios/01-release-before-convert.jsonl >/dev/null
"$binary" audit --db "$work/empty.db" --format sarif >"$work/empty.sarif" 2>/dev/null
python3 "$validator" "$work/empty.sarif"

# The validator must reject broken documents.
python3 - "$work/seeds.sarif" "$work" <<'BREAK'
import json, sys
log = json.load(open(sys.argv[1]))
def write(name, document):
    with open(f"{sys.argv[2]}/{name}.sarif", "w") as out:
        json.dump(document, out)
bad = json.loads(json.dumps(log)); bad["version"] = "2.0.0"; write("bad-version", bad)
bad = json.loads(json.dumps(log)); bad["runs"][0]["results"][0]["level"] = "critical"; write("bad-level", bad)
bad = json.loads(json.dumps(log)); del bad["runs"][0]["results"][0]["message"]; write("no-message", bad)
bad = json.loads(json.dumps(log)); bad["runs"][0]["results"][0]["ruleID"] = "GM-R01"; write("unknown-property", bad)
bad = json.loads(json.dumps(log)); bad["runs"][0]["results"][0]["ruleId"] = "GM-R99"; write("unknown-rule", bad)
bad = json.loads(json.dumps(log)); del bad["runs"][0]["tool"]; write("no-tool", bad)
BREAK
for name in bad-version bad-level no-message unknown-property unknown-rule no-tool; do
    if python3 "$validator" "$work/$name.sarif" >"$work/$name.out"; then
        echo "validator accepted the invalid document $name" >&2
        exit 1
    fi
    echo "rejected $name: $(head -1 "$work/$name.out")"
done
echo "validate-sarif: 3 passed, 0 failed"
