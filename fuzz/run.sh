#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) on a copy of its committed seed corpus, and prints the exec
# count of each. Exits non-zero when a target finds a crash (the input is kept under fuzz/artifacts/).
#
#   bash fuzz/run.sh            # 30 s per target (CI)
#   bash fuzz/run.sh 600        # the long run documented in docs/security.md
#
# Works on the stable toolchain without cargo-fuzz: the targets are plain binaries linked with libFuzzer
# (libfuzzer-sys), built with the SanitizerCoverage flags cargo-fuzz passes for `--sanitizer none` (all stable
# codegen options). `--target` keeps the flags off build scripts and proc macros. No install step, no nightly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-30}"
export CARGO_TARGET_DIR="${BK_FUZZ_TARGET_DIR:-/root/.cache/bridgekeeper-fuzz-target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
cd "$here"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^bridgekeeper-fuzz$')
cargo build --release --locked --target "$triple" --bins >/dev/null 2>&1 || cargo build --release --locked --target "$triple" --bins
bin="$CARGO_TARGET_DIR/$triple/release"
total=0
mkdir -p artifacts
for t in $targets; do
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  log=$(mktemp)
  mkdir -p "artifacts/$t"
  if ! "$bin/$t" "$work" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $t FOUND A CRASH (see fuzz/artifacts/$t)"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  echo "fuzz: $t: ${execs:-0} execs in ${seconds}s, coverage ${cov:-?} edges, 0 crashes"
  total=$(( total + ${execs:-0} ))
  rm -rf "$work" "$log"
  rmdir "artifacts/$t" 2>/dev/null || true
done
echo "fuzz: $(echo "$targets" | wc -w) targets, $total execs, 0 crashes"
