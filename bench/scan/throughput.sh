#!/usr/bin/env bash
# Throughput of `kura scan` beside ripgrep on the same bytes (issue 19). Not run by CI.
#
#   bench/scan/throughput.sh KURA_SCAN_CMD DIR [RUNS] [MIXED_DIR]
#
# KURA_SCAN_CMD runs `kura scan` (e.g. "target/release/kura scan" or
# "target/release/examples/scan_bench scan"); DIR is the folder written by
# `scan_bench bulk DIR 100` (text/, csv/, csv-sparse/). For each kind of data it prints the
# best wall time of RUNS runs (default 3) of `kura scan --format json` and of `rg` counting
# every match of three simple patterns (an e-mail shape, a US phone shape, a 16-digit card
# shape), the MB/s of each and their ratio, and kura's peak RSS. Then it scans one file ten
# times the size (the dense list concatenated) to show memory does not grow with file size.
# `time` resolves 10 ms: rg's figures on 100 MB (0.1 s) are coarse; the 1 GB file is not.
# MIXED_DIR (optional, e.g. the Faker corpus's `corpus/` folder) is copied ten times over and
# measured the same way as a realistic mix of files.
set -euo pipefail
kura=$1
dir=$2
runs=${3:-3}
mixed=${4:-}
rg_patterns=(-e '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}' -e '[0-9]{3}[- ][0-9]{3,4}[- ][0-9]{4}' -e '[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}')
best() { # best wall seconds and its max RSS (KB) of `runs` runs of "$@"
  local b=999999 rss=0
  for _ in $(seq "$runs"); do
    local tf out
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %M" "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$tf")
    rm -f "$tf"
    local t=${out% *} m=${out#* }
    if awk "BEGIN{exit !($t < $b)}"; then b=$t; rss=$m; fi
  done
  echo "$b $rss"
}
echo "nproc $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo "rg: $(rg --version | sed -n 1p)"
printf '%-12s %9s %10s %10s %10s %8s %10s\n' data MB kura_s kura_MB/s rg_MB/s ratio kura_RSS
big=$(mktemp -d)
trap 'rm -rf "$big"' EXIT
sets=("$dir/text" "$dir/csv" "$dir/csv-sparse")
if [ -n "$mixed" ]; then
  mkdir -p "$big/mixed"
  for i in $(seq 10); do
    for f in "$mixed"/*; do cp "$f" "$big/mixed/$i-$(basename "$f")"; done
  done
  sets+=("$big/mixed")
fi
for p in "${sets[@]}"; do
  d=$(basename "$p")
  bytes=$(cat "$p"/* | wc -c)
  cat "$p"/* >/dev/null
  read -r tk rk < <(best $kura --format json "$p")
  read -r tr _ < <(best rg --count-matches --search-zip "${rg_patterns[@]}" "$p")
  awk -v d="$d" -v b="$bytes" -v tk="$tk" -v tr="$tr" -v rk="$rk" 'BEGIN{mb=b/1e6; printf "%-12s %9.1f %10.2f %10.1f %10.1f %8.2f %8d MB\n", d, mb, tk, mb/tk, mb/tr, (mb/tk)/(mb/tr), rk/1024}'
done
for _ in $(seq 10); do cat "$dir/csv"/*; done > "$big/dense-x10.csv"
bytes=$(wc -c < "$big/dense-x10.csv")
read -r tk rk < <(best $kura --format json "$big/dense-x10.csv")
read -r tr _ < <(best rg --count-matches "${rg_patterns[@]}" "$big/dense-x10.csv")
awk -v b="$bytes" -v tk="$tk" -v tr="$tr" -v rk="$rk" 'BEGIN{mb=b/1e6; printf "%-12s %9.1f %10.2f %10.1f %10.1f %8.2f %8d MB\n", "one-file-x10", mb, tk, mb/tk, mb/tr, (mb/tk)/(mb/tr), rk/1024}'
