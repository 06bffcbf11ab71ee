#!/usr/bin/env bash
# Seeds a Bridgekeeper database for the scale case: N users, each with a linked identity, a live grant and a live
# refresh token (client `seed-app`). Applies the migrations first (the release binary's `migrate`).
#
#   BK_SEED_THROWAWAY=1 bash bench/seed.sh DATABASE_URL N    e.g. … sqlite:///tmp/bk.db 1000000
#
# It adds a public client `seed-app` and N fake users to the database: never point it at one in service.
#
# Needs python3; PostgreSQL URLs also need psql. BK_BIN=/path/to/bridgekeeper picks the binary (default: the
# release build under CARGO_TARGET_DIR, default /root/.cache/bridgekeeper-target).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -ne 2 ]; then
  echo "usage: bash bench/seed.sh DATABASE_URL N" >&2
  exit 2
fi
url="$1"
n="$2"
if [ "${BK_SEED_THROWAWAY:-}" != 1 ]; then
  echo "seed: writes a public client and N fake users into DATABASE_URL and vacuums it; only for a throwaway" \
    "benchmark database: set BK_SEED_THROWAWAY=1 to go on" >&2
  exit 2
fi
target="${CARGO_TARGET_DIR:-/root/.cache/bridgekeeper-target}"
bin="${BK_BIN:-$target/release/bridgekeeper}"
[ -x "$bin" ] || { echo "seed: no broker binary at $bin (cargo build --release --bin bridgekeeper)" >&2; exit 1; }
BRIDGEKEEPER__DATABASE_URL="$url" "$bin" migrate >/dev/null
exec python3 "$here/seed.py" "$url" "$n"
