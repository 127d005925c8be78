#!/usr/bin/env bash
# Rights and retention benchmark (issue 17).
#   1. Retention over N people: the first run starts everyone's clock, then (activity moved
#      back 800 days) a run asks all N to reconfirm, then (the 30 days moved back) a run
#      erases all N, each with a signed receipt mailed to the outbox. Wall time and peak RSS
#      of each run (`/usr/bin/time`).
#   2. Single erasures through HTTP, one client, keep-alive, M people each: a bare
#      `DELETE .../subjects/{id}` (the baseline: crypto-shredding, no receipt) against the
#      whole request (open by e-mail, code read from the outbox, verify → receipt).
# Usage: bench/rights/run.sh N [KURA_BINARY] [M]   (run with nothing else on the machine)
# WORK=DIR keeps the work directory.
set -euo pipefail
N=${1:-100000}
K=${2:-target/release/kura}
M=${3:-300}
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
            "name": "Person %d" % i, "login_id": "user%d" % i, "email": "p%d@example.org" % i}}) + "\n")
PY
cat > kura.toml <<'TOML'
[[retention]]
name = "dormant"
collection = "accounts"
inactive_days = 730
confirm_days = 30
[rights]
controller_name = "Bench Games"
controller_contact = "privacy@bench.example"
TOML
"$K" init --data v --org owner --org-name Owner --officer-name Officer --officer-contact sec@owner.example --json > init.json
/usr/bin/time -f "import: %e s wall, %M KB max RSS" "$K" import --data v people.ndjson >/dev/null
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect('v/data.db'); c.executescript(sys.argv[1]); c.commit()" "$1"; }
/usr/bin/time -f "retention stamp: %e s wall, %M KB max RSS" "$K" retention run --data v --config kura.toml --json > stamp.json
sql "UPDATE subject_activity SET active_at = active_at - 800*86400000;"
/usr/bin/time -f "retention plan: %e s wall, %M KB max RSS" "$K" retention plan --data v --config kura.toml --json > plan.json
sync; sleep 5
/usr/bin/time -f "retention ask: %e s wall, %M KB max RSS" "$K" retention run --data v --config kura.toml --json > ask.json
sql "UPDATE rights_requests SET due_at = due_at - 31*86400000 WHERE state = 'asked'; UPDATE subject_activity SET asked_at = asked_at - 31*86400000 WHERE asked_at IS NOT NULL;"
# The outbox is a pickup directory: a relay takes each message within seconds. The asks went
# out 30 days before the erasure; during it, a drainer takes the receipts every second (as a
# relay would), so the outbox stays small and `ls` counts what was delivered.
mkdir -p delivered
ASKED=$(ls v.outbox | wc -l)
find v.outbox -name '*.eml' -exec mv -t delivered {} +
rm -rf delivered && mkdir -p delivered
( while true; do find v.outbox -name '*.eml' -exec mv -t delivered {} + 2>/dev/null; sleep 1; done ) &
DRAIN=$!
sync; sleep 5
/usr/bin/time -f "retention erase: %e s wall, %M KB max RSS" "$K" retention run --data v --config kura.toml --json > erase.json
sleep 2; kill $DRAIN; find v.outbox -name '*.eml' -exec mv -t delivered {} + 2>/dev/null || true
echo "asks delivered: $ASKED, receipts delivered: $(ls delivered | wc -l)"
python3 - <<'PY'
import json
for f in ("stamp", "ask", "erase"):
    print(f, json.load(open(f + ".json"))[0][1])
PY

# Part 2: single erasures over HTTP.
python3 - "$M" <<'PY'
import json, sys
m = int(sys.argv[1])
with open("single.ndjson", "w") as f:
    for i in range(2 * m):
        f.write(json.dumps({"country": "DE", "locale": "de-DE", "fields": {
            "name": "Single %d" % i, "login_id": "single%d" % i, "email": "s%d@example.org" % i}}) + "\n")
PY
rm -rf v.outbox
"$K" import --data v single.ndjson --json > single.json 2>/dev/null || "$K" import --data v single.ndjson > single.json
"$K" serve --data v --config kura.toml --listen 127.0.0.1:0 > serve.out 2> serve.err &
SP=$!
trap 'kill $SP 2>/dev/null || true; [ -z "${WORK:-}" ] && rm -rf "$W"' EXIT
for _ in $(seq 100); do grep -q listening serve.out && break; sleep 0.1; done
python3 - "$M" <<'PY'
import email, glob, http.client, json, os, sqlite3, sys, time
m = int(sys.argv[1])
key = json.load(open("init.json"))["operator_key"]
base = open("serve.out").read().split("http://")[1].split()[0]
host, port = base.split(":")
conn = http.client.HTTPConnection(host, int(port))
H = {"Authorization": "Bearer " + key, "X-Kura-Purpose": "bench", "Content-Type": "application/json"}
def req(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = conn.getresponse(); data = r.read()
    return r.status, data
db = sqlite3.connect("v/data.db")
ids = [bytes(r[0]) for r in db.execute("SELECT id FROM subjects WHERE collection='accounts' ORDER BY iid DESC LIMIT ?", (2 * m,))]
import uuid
ids = [str(uuid.UUID(bytes=b)) for b in ids]
bare, full = ids[:m], ids[m:]
t = time.time()
for i in bare:
    s, d = req("DELETE", "/v1/collections/accounts/subjects/" + i)
    assert s == 200, d
bare_s = time.time() - t
seen = set()
def code():
    for p in glob.glob("v.outbox/*.eml"):
        if p in seen: continue
        seen.add(p)
        txt = open(p, "rb").read()
        msg = email.message_from_bytes(txt)
        body = msg.get_payload(decode=True).decode()
        if "kura_rv_" in body:
            j = body.index("kura_rv_")
            return body[j:j + 51]
    return None
t = time.time()
for i in full:
    s, d = req("POST", "/v1/collections/accounts/rights", {"kind": "erasure", "subject": i})
    assert s == 202, d
    c = code()
    assert c, "no code"
    s, d = req("POST", "/v1/collections/accounts/rights/verify", {"token": c})
    assert s == 200, d
full_s = time.time() - t
print("single erasures over HTTP, %d each, one client:" % m)
print("  bare DELETE (baseline): %.1f/s" % (m / bare_s))
print("  request + code + verify + receipt: %.1f/s (%.2f of baseline)" % (m / full_s, (m / full_s) / (m / bare_s)))
PY
