#!/usr/bin/env bash
# Sets up, builds the release page and serves it on http://127.0.0.1:${PORT:-8080}/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
CARGO_TARGET_DIR="$WASM_TARGET_DIR" trunk build --release
exec node tests/e2e/serve.mjs dist "${PORT:-8080}"
