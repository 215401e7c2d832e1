//! Images/s of DenseNet inference and one training step on burn's `flex` CPU backend in headless
//! Chromium, in a dedicated worker as in the page: the browser's CPU path, to compare with the
//! same code natively (`cargo run --release --example cpu_bench`). A benchmark, not a test: it
//! prints its figures and checks only that they are positive.
//!
//! `CARGO_TARGET_DIR=$WASM_TARGET_DIR cargo test --release --target wasm32-unknown-unknown
//! --test cpu_bench -- --nocapture`, with `--features relaxed-simd` for the worker Chromium runs
//! (scripts/cpu_bench.sh alternates them with native).
#![cfg(target_arch = "wasm32")]

use cxr_lab::backend::{cpu_device, cpu_path};
use cxr_lab::train::bench::{run_case, standard_cases};
use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// `performance.now()` of the worker, in milliseconds.
fn now() -> f64 {
    let performance = Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .expect("a worker has performance");
    let method: Function = Reflect::get(&performance, &JsValue::from_str("now"))
        .expect("performance.now")
        .dyn_into()
        .expect("a function");
    method
        .call0(&performance)
        .ok()
        .and_then(|v| v.as_f64())
        .expect("a number")
}

#[wasm_bindgen_test]
fn densenet_on_the_cpu_in_the_browser() {
    let reps = 3;
    let device = cpu_device();
    for case in standard_cases() {
        let result = run_case(&device, &case, reps, &now);
        console_log!("browser {}: {}", cpu_path(), result.line());
        assert!(result.infer_images_per_s > 0.0 && result.train_images_per_s > 0.0);
    }
}
