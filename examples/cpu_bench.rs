//! Images/s of DenseNet inference and one training step on burn's `flex` CPU backend, natively:
//! the reference for the same figures in the browser (`tests/cpu_bench.rs`). This build of
//! flex has no `rayon` feature, so it runs on one thread, as the browser does.
//!
//! `cargo run --release --example cpu_bench [-- reps]`

use std::time::Instant;

use cxr_lab::backend::cpu_device;
use cxr_lab::train::bench::{run_case, standard_cases};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    cxr_lab::backend::run_cpu_kernels_on_this_thread();
    let reps: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5,
    };
    let origin = Instant::now();
    let now = || origin.elapsed().as_secs_f64() * 1000.0;
    let device = cpu_device();
    for case in standard_cases() {
        println!(
            "native flex: {}",
            run_case(&device, &case, reps, &now).line()
        );
    }
    Ok(())
}
