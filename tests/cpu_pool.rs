//! `backend::run_cpu_kernels_on_this_thread`, in a process of its own (it sets up rayon's global
//! pool, once per process): the calling thread becomes thread 0 of the pool without changing the
//! pool's size, a model's forward pass then runs (its parallel ops split from this thread) and
//! gives the same logits as a thread outside the pool, and a second call says the pool
//! was already built.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::{Tensor, TensorData};
use cxr_lab::backend::{cpu_device, run_cpu_kernels_on_this_thread};
use cxr_lab::model::densenet::{DenseNet, DenseNetConfig};
use cxr_lab::model::init::seeded_on;

fn logits() -> Vec<f32> {
    let device = cpu_device();
    // Big enough that flex spreads its convolutions over the pool.
    let model: DenseNet = seeded_on(7, &device, |cpu| {
        DenseNetConfig::new(3)
            .with_growth_rate(16)
            .with_block_config(vec![2, 2])
            .with_num_init_features(32)
            .init(cpu)
    });
    let (batch, side) = (4, 64);
    let pixels: Vec<f32> = (0..batch * side * side)
        .map(|i| ((i % 37) as f32 * 0.21).sin())
        .collect();
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 1, side, side]), &device);
    model
        .forward(images)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 logits")
}

#[test]
fn the_model_thread_joins_the_pool_and_computes_the_same() {
    let expected_threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    assert!(
        run_cpu_kernels_on_this_thread(),
        "the pool was not built yet"
    );
    assert_eq!(rayon::current_thread_index(), Some(0));
    assert_eq!(rayon::current_num_threads(), expected_threads);
    let inside = logits();
    // On a thread outside the pool, which hands its parallel ops to the pool's other threads.
    let outside = std::thread::spawn(logits).join().expect("runs");
    assert_eq!(inside, outside);
    assert!(inside.iter().all(|v| v.is_finite()));
    assert!(!run_cpu_kernels_on_this_thread(), "built once per process");
}
