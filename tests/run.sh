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
  rm -f "$log" "$log.failed" "$log.flaky"
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

# A Rust pass whose failures are all in test targets that then pass when run again once each is reported FLAKY
# (on its own line and in the closing line), not failed: two rare failures seen on 2026-12-02 were of this kind
# (a SAML test process aborting in libxml2's teardown after all its tests passed; a second SQLite instance starting
# while the first was writing). A failure that repeats fails the pass as before. The first run's counts are kept,
# its failed tests counted as passed-on-retry.
rust_pass() {   # name, backend
  local name=$1 backend=$2 out retry ok=1 t
  out=$(mktemp); retry=$(mktemp)
  if BK_TEST_BACKEND=$backend cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$out"; then
    cat "$out" >> "$log"
  else
    mapfile -t targets < <(sed -n 's/^    `\(-p [^`]*\)`$/\1/p' "$out")
    [ ${#targets[@]} -gt 0 ] || ok=0
    for t in "${targets[@]}"; do
      echo "== $name: running $t once more"
      # shellcheck disable=SC2086
      BK_TEST_BACKEND=$backend cargo test --locked --no-fail-fast $t 2>&1 | tee -a "$retry" || ok=0
    done
    if [ "$ok" = 1 ]; then
      echo "== $name: FLAKY (failed once, passed when run again): ${targets[*]}"
      echo "$name: ${targets[*]}" >> "$log.flaky"
      sed 's/^test result: FAILED\. \([0-9]*\) passed; \([0-9]*\) failed/test result: FLAKY. \1 passed; 0 failed (\2 passed when run again)/' \
        "$out" >> "$log"
    else
      cat "$out" "$retry" >> "$log"
      echo "== $name: FAILED"
      echo "$name" >> "$log.failed"
    fi
  fi
  rm -f "$out" "$retry"
}

echo "== pass 1/3: SQLite"
rust_pass sqlite sqlite

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
rust_pass postgres postgres

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
[ -f "$log.flaky" ] && echo "FLAKY, passed when run again: $(tr '\n' ';' < "$log.flaky")"
echo "all passes: SQLite + PostgreSQL + interop + schemathesis + fuzzing"
echo "$passed passed, $failed failed"
rm -f "$log.failed" "$log.flaky"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
