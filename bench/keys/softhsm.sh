#!/usr/bin/env bash
# kura bench --only keys with a SoftHSM2 token beside the key file.
# Usage: bench/keys/softhsm.sh [kura bench flags...]   (release build: target/release/kura)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > "$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
softhsm2-util --init-token --free --label kura-bench --pin 1234 --so-pin 5678 >/dev/null
export KURA_BENCH_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
export KURA_BENCH_PKCS11_TOKEN=kura-bench
export KURA_BENCH_PKCS11_PIN=1234
exec target/release/kura bench --only keys --dir "$work/bench" "$@"
