//! Which build of the compute worker this browser runs: the one with relaxed SIMD where the
//! engine has it, the plain SIMD128 one elsewhere.
//!
//! A WebAssembly module that holds one relaxed-SIMD instruction does not compile at all in an
//! engine without relaxed SIMD (Safari, older Firefox), so the choice is made before the worker
//! starts, by validating a module of a few bytes that uses one (the probe of the
//! `wasm-feature-detect` package). Both workers compute the same things; relaxed SIMD's fused
//! multiply-add makes gemm's micro-kernels faster (vendor/gemm-f32/PATCHES.md).

use js_sys::{Uint8Array, WebAssembly};

/// A module with one function: `i8x16.relaxed_swizzle` of two `i8x16.splat`s.
const RELAXED_SIMD_PROBE: [u8; 36] = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
    0x03, 0x02, 0x01, 0x00, // functions: one, of type 0
    0x0a, 0x0f, 0x01, 0x0d, 0x00, // code: one body of 13 bytes, no locals
    0x41, 0x01, 0xfd, 0x0f, // i32.const 1, i8x16.splat
    0x41, 0x02, 0xfd, 0x0f, // i32.const 2, i8x16.splat
    0xfd, 0x80, 0x02, // i8x16.relaxed_swizzle (0xfd 0x100)
    0x0b, // end
];

/// Whether this engine compiles relaxed-SIMD modules.
#[must_use]
pub fn has_relaxed_simd() -> bool {
    let probe = Uint8Array::from(&RELAXED_SIMD_PROBE[..]);
    WebAssembly::validate(&probe).unwrap_or(false)
}

/// The loader script (trunk's `data-loader-shim`) of the worker build this browser can run.
#[must_use]
pub fn worker_loader() -> &'static str {
    if has_relaxed_simd() {
        "./worker_relaxed_loader.js"
    } else {
        "./worker_loader.js"
    }
}
