#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) on a copy of its committed seed corpus, and prints the exec
# count of each. Exits non-zero when a target finds a crash (the input is kept under fuzz/artifacts/).
#
#   bash fuzz/run.sh            # 30 s per target (CI)
#   bash fuzz/run.sh 600        # the long run documented in docs/security.md
#
# Works on the stable toolchain: libFuzzer with SanitizerCoverage, no sanitizer (RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass its flags). Installs cargo-fuzz when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-30}"
export CARGO_TARGET_DIR="${BK_FUZZ_TARGET_DIR:-/root/.cache/bridgekeeper-fuzz-target}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --version 0.13.2
cd "$here"
targets=$(cargo fuzz list)
cargo fuzz build --sanitizer none >/dev/null 2>&1 || cargo fuzz build --sanitizer none
total=0
for t in $targets; do
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  log=$(mktemp)
  if ! cargo fuzz run --sanitizer none "$t" "$work" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $t FOUND A CRASH (see fuzz/artifacts/$t)"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  echo "fuzz: $t: ${execs:-0} execs in ${seconds}s, coverage ${cov:-?} edges, 0 crashes"
  total=$(( total + ${execs:-0} ))
  rm -rf "$work" "$log"
done
echo "fuzz: $(echo "$targets" | wc -w) targets, $total execs, 0 crashes"
