#!/usr/bin/env bash
# Starts (or stops) a three-node Citus cluster on this machine for kura's opt-in Citus suite
# and benchmarks: coordinator on 5433, workers on 5434 and 5435, data under $CITUS_DIR
# (default /tmp/kura-citus), trust authentication on 127.0.0.1 only.
#
# It does not build or install Citus: that is ../shared/notes/citus-dev-cluster.md (Citus
# 13.2 from its public source, `make install` into the system PostgreSQL 15). The settings
# below match the plain PostgreSQL 15 kura is compared with (docs/scale-out.md).
#
#   bench/citus/cluster.sh start    # initdb if needed, start, create database kura_citus, add nodes
#   bench/citus/cluster.sh stop
#   KURA_TEST_CITUS_URL=postgres://postgres@127.0.0.1:5433/kura_citus cargo test -p kura --test citus
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DIR=${CITUS_DIR:-/tmp/kura-citus}
DB=${CITUS_DB:-kura_citus}
PORTS=(5433 5434 5435)
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

case "${1:-start}" in
start)
  mkdir -p "$DIR" && chown postgres "$DIR"
  for p in "${PORTS[@]}"; do
    d="$DIR/n$p"
    if [ ! -f "$d/PG_VERSION" ]; then
      as_pg "$PGBIN/initdb" -D "$d" -U postgres --auth=trust >/dev/null
      cat >> "$d/postgresql.conf" <<CONF
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
shared_preload_libraries = 'citus'
max_connections = 200
shared_buffers = 128MB
max_prepared_transactions = 200
CONF
      echo "host all all 127.0.0.1/32 trust" > "$d/pg_hba.conf"
      echo "local all all trust" >> "$d/pg_hba.conf"
    fi
    as_pg "$PGBIN/pg_ctl" -D "$d" -l "$d/log" -w status >/dev/null 2>&1 \
      || as_pg "$PGBIN/pg_ctl" -D "$d" -l "$d/log" -w start >/dev/null
  done
  for p in "${PORTS[@]}"; do
    psql -h 127.0.0.1 -p "$p" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
      || psql -h 127.0.0.1 -p "$p" -U postgres -qc "CREATE DATABASE $DB"
    psql -h 127.0.0.1 -p "$p" -U postgres -d "$DB" -qc "CREATE EXTENSION IF NOT EXISTS citus"
  done
  psql -h 127.0.0.1 -p 5433 -U postgres -d "$DB" -qtAc \
    "SELECT citus_set_coordinator_host('127.0.0.1', 5433);
     SELECT citus_add_node('127.0.0.1', 5434) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = 5434);
     SELECT citus_add_node('127.0.0.1', 5435) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = 5435);" >/dev/null
  psql -h 127.0.0.1 -p 5433 -U postgres -d "$DB" -tAc \
    "SELECT 'citus ' || extversion FROM pg_extension WHERE extname = 'citus';
     SELECT nodename || ':' || nodeport || ' group ' || groupid FROM pg_dist_node ORDER BY groupid"
  ;;
stop)
  for p in "${PORTS[@]}"; do as_pg "$PGBIN/pg_ctl" -D "$DIR/n$p" -w stop >/dev/null 2>&1 || true; done
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
