#!/usr/bin/env bash
# Installs what building and testing CXR Lab needs, skipping whatever is already there. Safe to
# re-run. Needs the Rust toolchain (rustup); everything else comes from Debian, crates.io or npm.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. The wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. Debian packages: Chromium and its driver for the browser tests, Node.js for the
#    end-to-end tests and the static server, and the Vulkan loader with Mesa's drivers for the
#    native wgpu tests (tests/wgpu_native.rs): Mesa's lavapipe runs Vulkan on the CPU, so those
#    tests run on a machine without a GPU (where one exists, wgpu prefers it).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  missing+=(mesa-vulkan-drivers)
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  missing+=(libvulkan1)
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi

# 3. wasm-bindgen-cli, exactly the version of the wasm-bindgen crate in Cargo.lock. Not
#    --locked: its lock file wants a webpki-roots version the registry here lacks.
want_bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have_bindgen=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_bindgen" != "$want_bindgen" ]; then
  log "installing wasm-bindgen-cli $want_bindgen (about 3 minutes)"
  cargo install wasm-bindgen-cli --version "$want_bindgen"
fi

# 4. trunk 0.21 (0.22 needs rustc 1.96).
want_trunk=0.21.14
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$want_trunk" ]; then
  log "installing trunk $want_trunk (about 14 minutes on 2 cores)"
  cargo install trunk --version "$want_trunk" --locked
fi

# 5. playwright-core for the end-to-end tests (it drives Debian's chromium; it never
#    downloads a browser of its own).
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  log "installing the end-to-end test packages"
  (cd tests/e2e && npm ci --no-audit --no-fund)
fi
log "ready"
