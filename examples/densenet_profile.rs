//! Where a DenseNet121 training step's time goes on burn `flex`, op by op: every convolution of
//! the network at its real shape (forward, input gradient, weight gradient), every batch norm
//! (training forward, backward) and the dense blocks' concatenations, each timed on its own and
//! summed per kind. A profiler cannot split these (rayon's worker threads lose the caller), so
//! this times them directly. Complements `densenet_bench`; the results are in
//! docs/cpu-profile.md.
//!
//! `cargo run --release --example densenet_profile -- [size (64)] [batch (8)] [repetitions (3)]`

use std::collections::BTreeMap;

use burn::tensor::module::{batch_norm_train, conv2d, conv2d_weight_backward};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use cxr_lab::backend::cpu_device;

/// One convolution of DenseNet121: channels in and out, kernel, stride, padding, input side.
struct Conv {
    kind: &'static str,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    side: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    cxr_lab::backend::run_cpu_kernels_on_this_thread();
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let batch: usize = args.next().map_or(Ok(8), |s| s.parse())?;
    let reps: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let device = cpu_device();
    let (convs, norms, cats) = densenet121_layers(size);

    // (kind, phase) → median seconds summed over the network.
    let mut totals: BTreeMap<(String, &str), f64> = BTreeMap::new();
    let mut add = |kind: &str, phase: &'static str, seconds: f64| {
        *totals.entry((kind.to_owned(), phase)).or_default() += seconds;
    };
    for conv in &convs {
        let [fwd, dx, dw] = time_conv(conv, batch, reps, &device);
        add(conv.kind, "forward", fwd);
        add(conv.kind, "input gradient (conv2d_x_backward)", dx);
        add(conv.kind, "weight gradient (conv2d_weight_backward)", dw);
    }
    for &(channels, side) in &norms {
        let [fwd, bwd] = time_batch_norm(channels, side, batch, reps, &device);
        add("batch norm", "training forward", fwd);
        add("batch norm", "backward", bwd);
    }
    for &(channels, side) in &cats {
        add(
            "dense-block cat",
            "forward (backward is a slice)",
            time_cat(channels, side, batch, reps, &device),
        );
    }

    let total: f64 = totals.values().sum();
    println!(
        "DenseNet121 ops on flex at {size}², batch {batch}, CPU time (all threads), median of {reps} per op, summed; load average {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| op | phase | CPU ms per step | share of these ops |");
    println!("|---|---|---|---|");
    let mut rows: Vec<_> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    for ((kind, phase), seconds) in rows {
        println!(
            "| {kind} | {phase} | {:.0} | {:.0} % |",
            seconds * 1e3,
            100.0 * seconds / total
        );
    }
    println!("| all of the above | | {:.0} | |", total * 1e3);
    Ok(())
}

/// The convolutions, batch norms `(channels, side)` and concatenations `(channels after, side)`
/// of DenseNet121 on `size`² grey images.
#[allow(clippy::type_complexity)]
fn densenet121_layers(size: usize) -> (Vec<Conv>, Vec<(usize, usize)>, Vec<(usize, usize)>) {
    let mut convs = vec![Conv {
        kind: "stem 7x7/2",
        c_in: 1,
        c_out: 64,
        kernel: 7,
        stride: 2,
        padding: 3,
        side: size,
    }];
    let mut norms = vec![(64, size / 2)];
    let mut cats = Vec::new();
    let mut channels = 64;
    let mut side = size / 4;
    for (i, layers) in [6, 12, 24, 16].into_iter().enumerate() {
        for _ in 0..layers {
            norms.push((channels, side));
            convs.push(Conv {
                kind: "dense 1x1 bottleneck",
                c_in: channels,
                c_out: 128,
                kernel: 1,
                stride: 1,
                padding: 0,
                side,
            });
            norms.push((128, side));
            convs.push(Conv {
                kind: "dense 3x3",
                c_in: 128,
                c_out: 32,
                kernel: 3,
                stride: 1,
                padding: 1,
                side,
            });
            channels += 32;
            cats.push((channels, side));
        }
        norms.push((channels, side));
        if i < 3 {
            convs.push(Conv {
                kind: "transition 1x1",
                c_in: channels,
                c_out: channels / 2,
                kernel: 1,
                stride: 1,
                padding: 0,
                side,
            });
            channels /= 2;
            side /= 2;
        }
    }
    (convs, norms, cats)
}

/// CPU seconds this process has run, summed over its threads (`/proc/self/task/*/schedstat`, in
/// nanoseconds): unlike the wall clock, hardly changed by other programs on a busy machine.
fn cpu_seconds() -> f64 {
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        * 1e-9
}

/// A stopwatch on [`cpu_seconds`].
struct Stopwatch(f64);

impl Stopwatch {
    fn start() -> Self {
        Stopwatch(cpu_seconds())
    }

    fn seconds(&self) -> f64 {
        cpu_seconds() - self.0
    }
}

fn median(mut run: impl FnMut() -> f64, reps: usize) -> f64 {
    let _ = run(); // warm-up
    let mut times: Vec<f64> = (0..reps).map(|_| run()).collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Forward, input gradient and weight gradient, each as the autodiff backward calls them.
fn time_conv(conv: &Conv, batch: usize, reps: usize, device: &Device) -> [f64; 3] {
    let out_side = (conv.side + 2 * conv.padding - conv.kernel) / conv.stride + 1;
    let x = random([batch, conv.c_in, conv.side, conv.side], device);
    let w = random([conv.c_out, conv.c_in, conv.kernel, conv.kernel], device);
    let g = random([batch, conv.c_out, out_side, out_side], device);
    let options = ConvOptions::new([conv.stride; 2], [conv.padding; 2], [1, 1], 1);
    let clock = |f: &dyn Fn() -> Tensor<4>| {
        median(
            || {
                let start = Stopwatch::start();
                std::hint::black_box(f().into_data());
                start.seconds()
            },
            reps,
        )
    };
    let forward = clock(&|| conv2d(x.clone(), w.clone(), None, options.clone()));
    // burn exposes conv2d_x_backward only through autodiff: a pass with only `x` requiring a
    // gradient, minus the forward (the product with `g` and the sum are a few element passes).
    let forward_and_input_gradient = clock(&|| {
        let x = x.clone().autodiff().require_grad();
        let y = conv2d(x.clone(), w.clone().autodiff(), None, options.clone());
        let grads = (y * g.clone().autodiff()).sum().backward();
        x.grad(&grads).expect("input gradient")
    });
    [
        forward,
        (forward_and_input_gradient - forward).max(0.0),
        clock(&|| conv2d_weight_backward(x.clone(), w.clone(), g.clone(), options.clone())),
    ]
}

/// Training-mode batch norm forward, and its backward (an autodiff pass minus the forward).
fn time_batch_norm(
    channels: usize,
    side: usize,
    batch: usize,
    reps: usize,
    device: &Device,
) -> [f64; 2] {
    let x = random([batch, channels, side, side], device);
    let g = random([batch, channels, side, side], device);
    let gamma = Tensor::<1>::ones([channels], device);
    let beta = Tensor::<1>::zeros([channels], device);
    let forward = median(
        || {
            let start = Stopwatch::start();
            let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
            std::hint::black_box(out.output.into_data());
            start.seconds()
        },
        reps,
    );
    let both = median(
        || {
            let x = x.clone().autodiff().require_grad();
            let gamma = gamma.clone().autodiff().require_grad();
            let beta = beta.clone().autodiff().require_grad();
            let start = Stopwatch::start();
            let out = batch_norm_train(x.clone(), gamma, beta, 1e-5).output;
            // Σ out·g has gradient g: the backward sees a realistic upstream gradient.
            let grads = (out * g.clone().autodiff()).sum().backward();
            std::hint::black_box(x.grad(&grads).map(|t| t.into_data()));
            start.seconds()
        },
        reps,
    );
    [forward, (both - forward).max(0.0)]
}

/// Appending 32 maps to a dense block's features, as `DenseBlock::forward` does.
fn time_cat(channels: usize, side: usize, batch: usize, reps: usize, device: &Device) -> f64 {
    let features = random([batch, channels - 32, side, side], device);
    let new = random([batch, 32, side, side], device);
    median(
        || {
            let start = Stopwatch::start();
            let out = Tensor::cat(vec![features.clone(), new.clone()], 1);
            std::hint::black_box(out.into_data());
            start.seconds()
        },
        reps,
    )
}
