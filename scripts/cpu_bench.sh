#!/usr/bin/env bash
# The browser's CPU path against native flex on one thread, in alternating rounds (the machine's
# speed drifts between phases, so each round runs all three back to back): native
# (examples/cpu_bench.rs), then headless Chromium with relaxed SIMD (the worker Chromium runs),
# then with SIMD128 alone (the worker for browsers without relaxed SIMD), all through
# src/train/bench.rs. Prints each figure line, prefixed by its round.
#
#   scripts/cpu_bench.sh [rounds]     (default 4; ~1 minute a round once built)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rounds="${1:-4}"
wasm_bench() {
  CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo test --release --target wasm32-unknown-unknown \
    --test cpu_bench "$@" -- --nocapture
}
cargo build --release --example cpu_bench
wasm_bench --features relaxed-simd --no-run
wasm_bench --no-run
for round in $(seq 1 "$rounds"); do
  RAYON_NUM_THREADS=1 "$CARGO_TARGET_DIR/release/examples/cpu_bench" 5 | sed "s/^/round $round: /"
  wasm_bench --features relaxed-simd 2>/dev/null | grep "^browser" | sed "s/^/round $round: /"
  wasm_bench 2>/dev/null | grep "^browser" | sed "s/^/round $round: /"
done
