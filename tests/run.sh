#!/usr/bin/env bash
# The whole test suite: every Rust test on SQLite, then every Rust test again on PostgreSQL, then the interop
# suite (oidc-provider upstream, openid-client downstream, Chromium), then schemathesis against the admin API,
# then every fuzz target for 30 s.
# Ends with one line: "N passed, M failed".
# PostgreSQL: uses BK_TEST_PG_URL when set, otherwise starts a private throw-away cluster on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bridgekeeper-target}"
log=$(mktemp -t bk-tests.XXXXXX)

pg_dir=""
cleanup() {
  if [ -n "$pg_dir" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
  rm -f "$log"
}
trap cleanup EXIT

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

echo "== pass 1/3: SQLite"
BK_TEST_BACKEND=sqlite cargo test --locked 2>&1 | tee -a "$log"

if [ -z "${BK_TEST_PG_URL:-}" ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$pg_bin" ] && command -v pg_config >/dev/null; then pg_bin=$(pg_config --bindir); fi
  [ -x "$pg_bin/initdb" ] || { echo "PostgreSQL server binaries not found: install postgresql (bash .ci/run does)"; exit 1; }
  pg_dir=$(mktemp -d /tmp/bk-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  [ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
  as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  export BK_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi

echo "== pass 2/3: PostgreSQL"
BK_TEST_BACKEND=postgres cargo test --locked 2>&1 | tee -a "$log"

echo "== pass 3/3: interop (oidc-provider upstream, openid-client downstream)"
bash tests/interop/run.sh 2>&1 | tee -a "$log"

echo "== admin API against its OpenAPI document (schemathesis)"
bash tests/admin_api/schemathesis.sh 2>&1 | tail -n 40

echo "== fuzzing: every target 30 s on its seed corpus"
bash fuzz/run.sh 30 2>&1 | tee -a "$log"

# One closing line over all passes (each pass above already failed the script on any failure).
rust_passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
interop_passed=$(sed -n 's/^\([0-9]*\) passed, 0 failed$/\1/p' "$log" | tail -n 1)
echo "all passes: SQLite + PostgreSQL + interop + schemathesis + fuzzing"
echo "$(( rust_passed + ${interop_passed:-0} )) passed, 0 failed"
