#!/usr/bin/env bash
# The console's pages beside the JSON API serving the same data, with wrk on loopback.
#
#   bench/console/run.sh            # uses target/release/kura; SUBJECTS, SECS, CONNS to change
#
# Sets up a vault on the embedded default: SUBJECTS people imported, a processor whose key
# reads until containment trips (quota 50), the trip's incident scoped. Then, each for SECS
# seconds with CONNS connections:
#   officer: GET /v1/incidents/ID (JSON, bearer) | GET /v1/incidents/ID/obligations |
#            GET /console/incidents/ID (HTML: incident, scope, obligations, drafts, notices)
#   person:  GET /v1/collections/accounts/subjects/SID (JSON, self-service key) |
#            GET /console/me (HTML: the record, cards, the access history)
set -euo pipefail
cd "$(dirname "$0")/../.."
KURA=${KURA:-target/release/kura}
SUBJECTS=${SUBJECTS:-10000}
SECS=${SECS:-15}
CONNS=${CONNS:-8}
PORT=${PORT:-8279}
B="http://127.0.0.1:$PORT"
tmp=$(mktemp -d)
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$tmp"; }
"$KURA" init --data "$tmp/v" --json --org owner --org-name "Owner Inc." \
  --officer-name "Owner Officer" --officer-contact security@owner.example > "$tmp/init.json"
KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['operator_key'])" "$tmp/init.json")
printf '[audit]\ncheckpoint_every_ms = 200\n' > "$tmp/kura.toml"
KURA_LOG=warn "$KURA" serve --data "$tmp/v" --config "$tmp/kura.toml" --listen "127.0.0.1:$PORT" > "$tmp/serve.out" 2> "$tmp/serve.err" &
SERVER=$!
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
H=(-H "Authorization: Bearer $KEY" -H "X-Kura-Purpose: support" -H "Content-Type: application/json")
python3 - "$SUBJECTS" > "$tmp/people.ndjson" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    c = ["JP", "DE", "US", "GB", "KR"][i % 5]
    print(json.dumps({"country": c, "locale": {"JP": "ja", "DE": "de", "KR": "ko"}.get(c, "en"),
        "fields": {"login_id": f"user{i}", "name": f"Person {i}", "email": f"user{i}@example.org",
                   "phone": f"+81 3 {i:04d} 5678", "postal_address": f"{i} Main Street",
                   "birth_date": "1985-04-01"}}))
PY
curl -sf "${H[@]}" -H "Content-Type: application/x-ndjson" --data-binary @"$tmp/people.ndjson" \
  "$B/v1/collections/accounts/import" > /dev/null
curl -sf "${H[@]}" "$B/v1/orgs" -d '{"id":"callcenter","name":"Call Centre","role":"processor","supervisor":"owner","security_officer":{"name":"CC Officer","contact":"officer@callcenter.example"}}' > /dev/null
PKEY=$(curl -sf "${H[@]}" "$B/v1/principals" -d '{"org":"callcenter","name":"desk","kind":"processor","policies":[{"collection":"accounts","purposes":["support"],"actions":["search","read"],"fields":{"name":"plain","email":"plain","login_id":"plain"},"quota":{"subjects":50,"window_secs":3600}}]}' \
  | python3 -c "import json,sys;print(json.load(sys.stdin)['api_key'])")
SID=""
for i in $(seq 0 60); do
  id=$(curl -s -H "Authorization: Bearer $PKEY" -H "X-Kura-Purpose: support" -H "Content-Type: application/json" \
    "$B/v1/collections/accounts/search" -d "{\"field\":\"login_id\",\"value\":\"user$i\"}" \
    | python3 -c "import json,sys;d=json.load(sys.stdin);print((d.get('ids') or [''])[0])" 2>/dev/null || true)
  [ -n "$id" ] || break
  [ -n "$SID" ] || SID=$id
  curl -s -o /dev/null -H "Authorization: Bearer $PKEY" -H "X-Kura-Purpose: support" "$B/v1/collections/accounts/subjects/$id"
done
sleep 1
INC=$(curl -sf "${H[@]}" "$B/v1/incidents" | python3 -c "import json,sys;print(json.load(sys.stdin)[0]['id'])")
curl -sf "${H[@]}" -X POST "$B/v1/incidents/$INC/scope" > /dev/null
MKEY=$(curl -sf "${H[@]}" "$B/v1/principals" -d "{\"org\":\"owner\",\"name\":\"me\",\"kind\":\"self\",\"subject\":\"$SID\"}" \
  | python3 -c "import json,sys;print(json.load(sys.stdin)['api_key'])")
cookie() {
  curl -s -o /dev/null -D - --data-urlencode "key=$1" "$B/console/login" \
    | sed -n 's/^set-cookie: \(kura_console=[^;]*\);.*/\1/ip' | tr -d '\r'
}
OC=$(cookie "$KEY"); MC=$(cookie "$MKEY")
run() { # label, then wrk arguments
  local label=$1; shift
  local rps
  rps=$(wrk -t2 -c"$CONNS" -d"${SECS}s" "$@" | awk '/Requests\/sec/ {print $2}')
  printf '%-34s %10s req/s\n' "$label" "$rps"
}
# The report drafts the incident page shows: every owed obligation with a template.
DRAFTS=()
for o in $(curl -sf "${H[@]}" "$B/v1/incidents/$INC/obligations" \
    | python3 -c "import json,sys;[print(o['id']) for o in json.load(sys.stdin)['obligations'] if o['required'] and o['checklist']]"); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$B/v1/incidents/$INC/reports/$o")" = 200 ] && DRAFTS+=("$o")
done
echo "subjects=$SUBJECTS conns=$CONNS secs=$SECS incident=$INC drafts=${#DRAFTS[@]} (${DRAFTS[*]})"
run "api incident (json)" -H "Authorization: Bearer $KEY" "$B/v1/incidents/$INC"
run "api obligations (json)" -H "Authorization: Bearer $KEY" "$B/v1/incidents/$INC/obligations"
run "api one report draft (json)" -H "Authorization: Bearer $KEY" "$B/v1/incidents/$INC/reports/${DRAFTS[0]}"
run "api notices (json)" -H "Authorization: Bearer $KEY" "$B/v1/incidents/$INC/notices"
run "console incident page (html)" -H "Cookie: $OC" "$B/console/incidents/$INC"
run "api own record (json)" -H "Authorization: Bearer $MKEY" -H "X-Kura-Purpose: self_service" "$B/v1/collections/accounts/subjects/$SID"
run "api own access log, 50 (json)" -H "Authorization: Bearer $MKEY" -H "X-Kura-Purpose: self_service" "$B/v1/collections/accounts/subjects/$SID/access-log?limit=50"
run "console my page (html)" -H "Cookie: $MC" "$B/console/me"
