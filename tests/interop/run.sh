#!/usr/bin/env bash
# Interop suite: oidc-provider (certified OP) upstream, openid-client (certified RP) downstream, the broker in
# between, a plain-HTTP browser (interop.test.mjs) and headless Chromium (browser.test.mjs) in front. Installs the
# pinned Node packages when missing, builds the broker when needed, runs the suite, exits non-zero on failure.
# The Chromium tests are skipped (counted, not failed) when there is no Chromium; Debian: apt-get install chromium.
#
#   bash tests/interop/run.sh
#
# Environment: CARGO_TARGET_DIR (default /root/.cache/bridgekeeper-target); BK_BIN=/path/to/bridgekeeper skips
# the build; BK_CHROMIUM (default /usr/bin/chromium); BK_INTEROP_DEBUG=1 logs every
# request the browser makes; BK_INTEROP_KEEP=1 keeps the temporary directory (config, database, broker log).
# Screenshots of the Chromium tests go to tests/interop/output/<test>/ (git-ignored).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/bridgekeeper-target}"
started=$(date +%s)

command -v node >/dev/null || { echo "interop: node (>= 20) is required" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "interop: node >= 20 is required, found $(node --version)" >&2; exit 1; }

if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  echo "interop: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${BK_BIN:-}" ]; then
  echo "interop: cargo build --bin bridgekeeper"
  (cd "$repo" && cargo build --quiet --bin bridgekeeper)
  export BK_BIN="$CARGO_TARGET_DIR/debug/bridgekeeper"
fi
[ -x "$BK_BIN" ] || { echo "interop: no broker binary at $BK_BIN" >&2; exit 1; }

chromium="${BK_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  echo "interop: browser tests with $("$chromium" --version 2>/dev/null | head -1)"
else
  echo "interop: SKIPPING the browser tests (browser.test.mjs): no Chromium at $chromium; on Debian: apt-get install chromium"
fi

out="$(mktemp -t bk-interop-out.XXXXXX)"
# The suite runs in its own session so that whatever it started (the broker) can be ended as a group, even if
# node itself dies abnormally.
set +e
setsid bash -c 'set -o pipefail; cd "$1" && timeout --kill-after=10 360 node --test --test-reporter=tap \
  --test-concurrency=1 interop.test.mjs logout.test.mjs exchange.test.mjs fapi.test.mjs dpop.test.mjs fapi2.test.mjs resource.test.mjs device.test.mjs browser.test.mjs 2>&1 | tee "$2"' _ "$here" "$out" &
pid=$!
trap 'kill -TERM -- "-$pid" 2>/dev/null' INT TERM
wait "$pid"
rc=$?
trap - INT TERM
kill -KILL -- "-$pid" 2>/dev/null
set -e

count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$out" | tail -1; }
pass=$(count pass); fail=$(count fail); todo=$(count todo); cancelled=$(count cancelled); skipped=$(count skipped)
rm -f "$out"
[ -n "$pass" ] || { pass=0; fail=${fail:-1}; }
if [ "${cancelled:-0}" != 0 ]; then fail=$(( ${fail:-0} + cancelled )); fi
[ "$rc" -eq 0 ] || [ "${fail:-0}" != 0 ] || fail=1
echo "interop: $(( $(date +%s) - started ))s"
[ "${todo:-0}" = 0 ] || fail=$(( ${fail:-0} + todo ))
if [ "${skipped:-0}" != 0 ]; then
  echo "${pass} passed, ${fail:-0} failed, ${skipped} skipped"
else
  echo "${pass} passed, ${fail:-0} failed"
fi
exit "$rc"
