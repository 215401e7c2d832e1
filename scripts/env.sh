# Sourced by the scripts: build caches outside the clone, shared by every checkout. Native and
# wasm builds get separate target directories so that they never wait on each other's lock.
CACHE="${CXR_CACHE:-$HOME/.cache/cxr-lab}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
WASM_TARGET_DIR="${WASM_TARGET_DIR:-$CACHE/target-wasm}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
