#!/usr/bin/env bash
# Notices benchmark: N people imported, a stolen backup (every person potential in every
# held category) scoped, a campaign planned and sent to the outbox (the default transport).
# Prints wall time and peak RSS of `kura notify plan` and `kura notify send`.
# Usage: bench/notices/run.sh N [KURA_BINARY]   (run with nothing else on the machine)
set -euo pipefail
N=${1:-100000}
K=${2:-target/release/kura}
K=$(realpath "$K")
# WORK=DIR keeps the work directory (and PREPARE_ONLY=1 stops after the plan, for profiling).
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
cat > content.toml <<'TOML'
[texts.en]
what_happened = "A backup copy of our customer database was stolen."
cause = "An access key of our backup provider was misused."
likely_consequences = "Someone may try to use your details for phishing."
measures = "We revoked the key and reported to the regulators."
[texts.ja]
what_happened = "当社の顧客データベースのバックアップが盗まれました。"
cause = "バックアップ事業者のアクセスキーが不正に使用されました。"
likely_consequences = "フィッシングに悪用されるおそれがあります。"
measures = "キーを無効化し、監督当局に報告しました。"
[texts.de]
what_happened = "Eine Sicherungskopie unserer Kundendatenbank wurde gestohlen."
cause = "Ein Zugangsschlüssel wurde missbraucht."
likely_consequences = "Ihre Daten könnten für Phishing genutzt werden."
measures = "Wir haben den Schlüssel gesperrt."
[texts.ko]
what_happened = "고객 데이터베이스 백업이 도난당했습니다."
cause = "백업 업체의 접근 키가 악용되었습니다."
likely_consequences = "피싱에 악용될 수 있습니다."
measures = "키를 폐기했습니다."
TOML
"$K" init --data v --org owner --org-name Owner --officer-name Officer --officer-contact sec@owner.example --json >/dev/null
"$K" import --data v people.ndjson >/dev/null
I=$("$K" incident declare --data v --title bench --vector backup --keys-exposed --from 2026-11-01T00:00:00Z --to 2026-11-20T00:00:00Z --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$K" incident update --data v "$I" --stamp aware@owner=now --reason bench >/dev/null
"$K" incident scope --data v "$I" >/dev/null
/usr/bin/time -f "plan: %e s wall, %M KB max RSS" "$K" notify plan --data v "$I" --content content.toml --json > plan.json
[ -n "${PREPARE_ONLY:-}" ] && exit 0
/usr/bin/time -f "send: %e s wall, %M KB max RSS" "$K" notify send --data v "$I" --json > send.json
python3 - "$N" <<'PY'
import json, sys
s = json.load(open("send.json"))
print("people", sys.argv[1], "sent", s["sent"], "complete", s["complete"])
PY
ls v.outbox | wc -l | sed 's/^/outbox files: /'
