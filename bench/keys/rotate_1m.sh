#!/usr/bin/env bash
# `kura keys rotate` on a vault of N subjects (default 1,000,000), embedded store, key file.
# Usage: bench/keys/rotate_1m.sh [N]   (release build: target/release/kura)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kura=target/release/kura
python3 - "$n" > "$work/people.ndjson" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    print(json.dumps({"country": "JP", "locale": "ja", "fields": {
        "login_id": f"user{i}", "email": f"user{i}@example.jp", "name": f"Person {i}",
        "phone": f"+8190{i:08d}"}}))
PY
$kura init --data "$work/vault" --org o --org-name O --officer-name "Officer" \
    --officer-contact security@o.example.net --json > /dev/null
start=$(date +%s.%N)
$kura import --data "$work/vault" --collection accounts --purpose bench "$work/people.ndjson" > /dev/null
end=$(date +%s.%N)
echo "import: $n subjects in $(echo "$end - $start" | bc) s"
start=$(date +%s.%N)
$kura keys rotate --data "$work/vault" --retire --json > "$work/report.json"
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)
echo "rotate: $(cat "$work/report.json" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["rewrapped"], "re-wrapped, retired", r["retired"])') in $secs s"
echo "rate: $(echo "$n / $secs" | bc) keys/s (including the 2 s settle and the second pass)"
