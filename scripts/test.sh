#!/usr/bin/env bash
# Sets up and runs every test: native unit tests, browser tests (wasm-bindgen-test in headless
# Chromium with WebGPU), and end-to-end tests of the release page (playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh

step() { printf '\n\033[1m== %s\033[0m (%s)\n' "$*" "$(date +%T)"; }

step "native tests (burn flex on the CPU)"
cargo test --release

step "browser tests: WebGPU vs CPU in headless Chromium"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo test --release --target wasm32-unknown-unknown --test web

step "release build of the page"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" trunk build --release
ls -l dist/*.wasm

step "end-to-end tests of the page"
(cd tests/e2e && npm test)
