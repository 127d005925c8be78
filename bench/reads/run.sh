#!/usr/bin/env bash
# HTTP read load test (issue 18): N people with all eight `accounts` fields, `kura serve` on
# loopback, wrk with keep-alive connections, a random subject per request, every field.
# Beside it, `/v1/health` on the same server (the HTTP stack's ceiling, no store, no log).
# Usage: bench/reads/run.sh [N] [KURA_BINARY] [SECONDS]   (run with nothing else on the machine)
# Needs wrk (Debian package `wrk`). WORK=DIR keeps the work directory.
set -euo pipefail
N=${1:-100000}
K=${2:-target/release/kura}
D=${3:-15}
K=$(realpath "$K")
if [ -n "${WORK:-}" ]; then W=$WORK; mkdir -p "$W"; else W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; fi
cd "$W"
python3 - "$N" <<'PY'
import json, sys
n = int(sys.argv[1])
langs = [("JP", "ja-JP"), ("DE", "de-DE"), ("US", "en-US"), ("GB", "en-GB"), ("KR", "ko-KR"), ("FR", "fr-FR")]
with open("people.ndjson", "w") as f:
    for i in range(n):
        c, l = langs[i % len(langs)]
        f.write(json.dumps({"country": c, "locale": l, "fields": {
            "login_id": "user%d" % i, "online_id": "player%d" % i, "name": "Person Number %d" % i,
            "email": "p%d@example.org" % i, "phone": "+4915112%06d" % i,
            "postal_address": "%d Example Street, 10115 Berlin" % i,
            "birth_date": "19%02d-%02d-%02d" % (50 + i % 50, 1 + i % 12, 1 + i % 28),
            "gender": "female" if i % 2 else "male"}}) + "\n")
PY
"$K" init --data v --org owner --org-name Owner --officer-name Officer --officer-contact sec@owner.example --json > init.json
"$K" import --data v people.ndjson > /dev/null
python3 - <<'PY'
import sqlite3, uuid
db = sqlite3.connect("v/data.db")
with open("ids.txt", "w") as f:
    for (b,) in db.execute("SELECT id FROM subjects WHERE collection = 'accounts'"):
        f.write(str(uuid.UUID(bytes=bytes(b))) + "\n")
PY
KEY=$(python3 -c 'import json; print(json.load(open("init.json"))["operator_key"])')
cat > read.lua <<LUA
local ids = {}
for line in io.lines("$W/ids.txt") do ids[#ids + 1] = line end
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["X-Kura-Purpose"] = "support"
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/collections/accounts/subjects/" .. ids[math.random(#ids)])
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d status, %d connect/read/write/timeout\n",
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
"$K" serve --data v --listen 127.0.0.1:0 > serve.out 2> serve.err &
SP=$!
trap 'kill $SP 2>/dev/null || true; [ -z "${WORK:-}" ] && rm -rf "$W"' EXIT
for _ in $(seq 100); do grep -q listening serve.out && break; sleep 0.1; done
BASE=$(sed -n 's/.*\(http:\/\/[0-9.:]*\).*/\1/p' serve.out | head -1)
echo "kura: $("$K" --version), $N subjects, ${D}s per run, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
wrk -t2 -c64 -d5s "$BASE/v1/health" > /dev/null  # warm-up
echo "== /v1/health, 64 connections"
wrk -t2 -c64 -d"${D}s" --latency "$BASE/v1/health" | grep -E "Requests/sec|50%|99%"
for C in 8 64 256; do
  echo "== subject reads, $C connections (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  wrk -t2 -c"$C" -d"${D}s" --latency -s read.lua "$BASE" | grep -E "Requests/sec|50%|99%|non-2xx"
done
echo "access events in the log: $(python3 -c 'import sqlite3; print(sqlite3.connect("v/data.db").execute("SELECT count(*) FROM audit_log").fetchone()[0])')"
