//! The compute worker built with relaxed SIMD (`--features relaxed-simd`): the same entry point
//! as `worker`, so that one source serves both modules.

#[path = "worker.rs"]
mod worker;

fn main() {
    worker::main();
}
