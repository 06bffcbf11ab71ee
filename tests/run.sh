#!/usr/bin/env bash
# The whole test suite: every Rust test on SQLite, then every Rust test again on PostgreSQL, then the interop
# suite (oidc-provider upstream, openid-client downstream, Chromium), then schemathesis against the admin API,
# then every fuzz target for 30 s.
# Every pass runs even when an earlier one failed; the script ends with one line, "N passed, M failed", counting
# every Rust test, the interop tests and the fuzz targets, and exits non-zero when M > 0 or a pass could not run.
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
  rm -f "$log" "$log.failed"
}
trap cleanup EXIT

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

broken=0   # passes that failed without test counts (build errors, a tool that could not start)
run_pass() {   # name, command...: runs one pass, never stops the script
  local name=$1; shift
  if ! "$@" 2>&1 | tee -a "$log"; then
    echo "== $name: FAILED"
    echo "$name" >> "$log.failed"
  fi
}

echo "== pass 1/3: SQLite"
BK_TEST_BACKEND=sqlite run_pass sqlite cargo test --locked --workspace --no-fail-fast

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
BK_TEST_BACKEND=postgres run_pass postgres cargo test --locked --workspace --no-fail-fast

# The broker binary the Rust passes built: interop and schemathesis run it rather than a `cargo build` of their own,
# which resolves features without the dev-dependencies and so would compile part of the tree a second time. A
# `cargo test --no-run` of the tree as it is (a no-op after the passes) links that binary to target/debug again.
if [ -z "${BK_BIN:-}" ] && cargo test --locked --workspace --no-run -q >/dev/null 2>&1; then
  export BK_BIN="$CARGO_TARGET_DIR/debug/bridgekeeper" BK_BINARY="$CARGO_TARGET_DIR/debug/bridgekeeper"
fi

echo "== pass 3/3: interop (oidc-provider upstream, openid-client downstream)"
run_pass interop bash tests/interop/run.sh

echo "== admin API against its OpenAPI document (schemathesis)"
run_pass schemathesis bash -o pipefail -c 'bash tests/admin_api/schemathesis.sh 2>&1 | tail -n 40'

echo "== fuzzing: every target 30 s on its seed corpus"
run_pass fuzzing bash fuzz/run.sh 30

# One closing line over all passes.
sum() { awk '{s+=$1} END {print s+0}'; }
rust_passed=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed.*/\1/p' "$log" | sum)
rust_failed=$(sed -n 's/^test result: [A-Za-z]*\. [0-9]* passed; \([0-9]*\) failed.*/\1/p' "$log" | sum)
interop_passed=$(sed -n 's/^\([0-9]*\) passed, [0-9]* failed$/\1/p' "$log" | sum)
interop_failed=$(sed -n 's/^[0-9]* passed, \([0-9]*\) failed$/\1/p' "$log" | sum)
fuzz_passed=$(grep -cE '^fuzz: [a-z_]+: .*, 0 crashes$' "$log" || true)
fuzz_failed=$(grep -c 'FOUND A CRASH' "$log" || true)
broken=$( [ -f "$log.failed" ] && wc -l < "$log.failed" || echo 0)
passed=$(( rust_passed + interop_passed + fuzz_passed ))
failed=$(( rust_failed + interop_failed + fuzz_failed ))
# A pass that failed without reporting a failed test (a build error, a tool that did not start) counts as one.
counted_passes=$(( (rust_failed > 0 ? 1 : 0) + (interop_failed > 0 ? 1 : 0) + (fuzz_failed > 0 ? 1 : 0) ))
if [ "$broken" -gt "$counted_passes" ]; then failed=$(( failed + broken - counted_passes )); fi
[ -f "$log.failed" ] && echo "passes that failed: $(tr '\n' ' ' < "$log.failed")"
echo "all passes: SQLite + PostgreSQL + interop + schemathesis + fuzzing"
echo "$passed passed, $failed failed"
rm -f "$log.failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
