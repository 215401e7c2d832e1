#!/usr/bin/env bash
# Sets up and runs every test: native tests (flex, and wgpu on Vulkan: tests/wgpu_native.rs),
# browser tests (wasm-bindgen-test in headless Chromium with WebGPU), and end-to-end tests of
# the release page (playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh

step() { printf '\n\033[1m== %s\033[0m (%s)\n' "$*" "$(date +%T)"; }

# cubecl's shortest autotune: on lavapipe (a CPU driver) the native wgpu tests otherwise spend
# most of their time timing kernel variants.
export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"

step "native tests (burn flex on the CPU; wgpu on Vulkan, lavapipe without a GPU)"
cargo test --release

step "browser tests: WebGPU vs CPU in headless Chromium"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo test --release --target wasm32-unknown-unknown --test web
step "browser tests again, with relaxed SIMD (the worker build Chromium runs)"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo test --release --target wasm32-unknown-unknown --features relaxed-simd --test web

step "release build of the page"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" trunk build --release
ls -l dist/*.wasm

step "end-to-end tests of the page"
(cd tests/e2e && npm test)
