#!/usr/bin/env bash
# The load benchmark (issue 6): Bridgekeeper's release build against the Node.js oidc-provider, one table at the
# end, also saved as JSON under bench/results/.
#
#   bash bench/run.sh               # broker on SQLite
#   bash bench/run.sh --postgres    # broker on a private PostgreSQL cluster it starts (and removes) itself
#   bash bench/run.sh --both        # SQLite, then PostgreSQL, then docs/performance.md's table (bench/table.py)
#   bash bench/run.sh --help        # options: --duration, --runs, --connections, --scale N (0 skips), ...
#
# Installs what it needs when missing (Debian's wrk, and postgresql for --postgres; the pinned npm packages in
# bench/), builds the broker (cargo build --release, CARGO_TARGET_DIR default /root/.cache/bridgekeeper-target;
# BK_BIN=/path/to/bridgekeeper skips the build), then runs bench/bench.py. Everything it starts listens on
# 127.0.0.1 and is ended when it finishes or fails. BENCH_KEEP=1 keeps the work directory (configs, databases,
# logs of the last case).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/bridgekeeper-target}"

for arg in "$@"; do
  case "$arg" in
    -h|--help) exec python3 "$here/bench.py" --help ;;
  esac
done
postgres=0
both=0
args=()
for arg in "$@"; do
  case "$arg" in
    --postgres) postgres=1; args+=("$arg") ;;
    --both) both=1; postgres=1 ;;
    *) args+=("$arg") ;;
  esac
done

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "bench: $* missing; install it (apt-get install $*)" >&2
    exit 1
  fi
  echo "bench: apt-get install $*"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v wrk >/dev/null || apt_install wrk
command -v sqlite3 >/dev/null || apt_install sqlite3
command -v python3 >/dev/null || apt_install python3
if [ "$postgres" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql
fi
command -v node >/dev/null || { echo "bench: node (>= 20) is required" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "bench: node >= 20 is required, found $(node --version)" >&2; exit 1; }
if [ ! -d "$here/node_modules/oidc-provider" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  echo "bench: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${BK_BIN:-}" ]; then
  echo "bench: cargo build --release --bin bridgekeeper (the first build takes several minutes)"
  (cd "$repo" && cargo build --release --locked --quiet --bin bridgekeeper)
  BK_BIN="$CARGO_TARGET_DIR/release/bridgekeeper"
fi
[ -x "$BK_BIN" ] || { echo "bench: no broker binary at $BK_BIN" >&2; exit 1; }

work="$(mktemp -d /tmp/bk-bench.XXXXXX)"
cleanup() {
  # bench.py ends what it started; this is the fallback when it could not (killed, crashed). With --both each
  # backend's pass has a work directory of its own below $work.
  for w in "$work" "$work/sqlite" "$work/postgres"; do
    if [ -f "$w/pids" ]; then
      while read -r pid; do
        [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
      done <"$w/pids"
      sleep 1
      while read -r pid; do
        [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
      done <"$w/pids"
    fi
    if [ -f "$w/pgdir" ]; then
      { read -r pg_bin; read -r pg_dir; } <"$w/pgdir"
      if [ -d "$pg_dir/data" ]; then
        if [ "$(id -u)" = 0 ]; then
          runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
        else
          "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
        fi
      fi
      rm -rf "$pg_dir"
    fi
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$both" = 1 ]; then
  out="$here/results"
  mkdir -p "$work/sqlite" "$work/postgres"
  python3 "$here/bench.py" --work "$work/sqlite" --bin "$BK_BIN" "${args[@]}"
  first="$(ls -t "$out"/*-sqlite.json | head -1)"
  python3 "$here/bench.py" --work "$work/postgres" --bin "$BK_BIN" --postgres "${args[@]}"
  second="$(ls -t "$out"/*-postgres.json | head -1)"
  echo
  echo "docs/performance.md's table (bench/table.py $first $second):"
  python3 "$here/table.py" "$first" "$second"
else
  python3 "$here/bench.py" --work "$work" --bin "$BK_BIN" "${args[@]}"
fi
