//! Images per second of the two augmentation paths on this machine, natively: the CPU path
//! (`prepare_image`, one image at a time; on one thread, then the batch spread over every core)
//! and the tensor path (`prepare_batch`) on burn's `flex` backend and on the GPU through wgpu
//! (what training on a GPU runs). Batches of 8 grey 320² images, `complex` preset. This is a
//! benchmark, not a test. On a shared, busy machine the figures are indicative only: each row is
//! the median of 5 repetitions of the whole run.
//!
//! The wgpu row runs on whatever adapter wgpu picks: on a machine without a GPU that is Mesa's
//! lavapipe, a Vulkan driver that runs on the CPU, so its figure is a CPU's, not a GPU's. Without
//! any adapter the row says why and the others still print.
//!
//! `cargo run --release --example augment_bench [-- batches] [--cpu-only]`
//!
//! The images are the NIH samples in `$CXR_SAMPLES` (default `/work/shared/data/samples`),
//! resized to 320² once before timing (decoding is not augmentation). Synthetic images are used
//! where none can be read. The tensor figure includes uploading the batch and reading it back,
//! as training on a device does not do, so it is a lower bound for the device-resident case.

use std::time::{Duration, Instant};

use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};
use cxr_lab::augment::gpu::prepare_batch;
use cxr_lab::augment::{AugmentSpec, Plane, TransformParams, prepare_image, sample};
use cxr_lab::backend::{cpu_device, wgpu_device};
use cxr_lab::rng::SplitMix64;

const SIDE: usize = 320;
const BATCH: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--cpu-only`: the CPU rows alone, for benches/augment_bench.py's interleaved rounds.
    let cpu_only = args.iter().any(|a| a == "--cpu-only");
    let batches: usize = match args.iter().find(|a| !a.starts_with("--")) {
        Some(n) => n.parse()?,
        None => 8,
    };
    let images = load_images();
    let spec = AugmentSpec::complex();
    let mut rng = SplitMix64::new(1);
    let params: Vec<Vec<TransformParams>> = (0..=batches)
        .map(|_| {
            (0..BATCH)
                .map(|_| sample(&spec, SIDE, SIDE, &mut rng))
                .collect()
        })
        .collect();

    let cpu = median_of(5, || {
        time_batches(&params, |batch| cpu_batch(&spec, batch, &images, 1))
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_all = median_of(5, || {
        time_batches(&params, |batch| cpu_batch(&spec, batch, &images, threads))
    });

    let pixels: Vec<f32> = images.iter().flat_map(|p| p.pixels.clone()).collect();
    let tensor_path = |device: &Device| {
        median_of(5, || {
            time_batches(&params, |batch| {
                let x = Tensor::<4>::from_data(
                    TensorData::new(pixels.clone(), [BATCH, 1, SIDE, SIDE]),
                    device,
                );
                let out = prepare_batch(&spec, batch, None, x).expect("no featurewise");
                // Reading back forces the lazy backend to finish the work.
                std::hint::black_box(out.into_data());
            })
        })
    };
    let rate = |d: Duration| (batches * BATCH) as f64 / d.as_secs_f64();
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.1} | {:.1} |",
            rate(d),
            d.as_secs_f64() * 1e3 / batches as f64
        );
    };
    let cpu_all_name = format!("our CPU path, {threads} threads (prepare_image)");
    if cpu_only {
        row("our CPU path, 1 thread (prepare_image)", cpu);
        row(&cpu_all_name, cpu_all);
        return Ok(());
    }
    let tensor = tensor_path(&cpu_device());
    // The first batch of each run is not timed, so shader compilation stays out of the figure.
    let on_wgpu = wgpu_device().map(|(device, info)| (tensor_path(&device), info.path()));

    println!(
        "complex preset, {batches} batches of {BATCH} grey {SIDE}x{SIDE} images (after 1 warm-up)"
    );
    println!("| path | images/s | ms per batch |");
    println!("|---|---|---|");
    row("our CPU path, 1 thread (prepare_image)", cpu);
    row(&cpu_all_name, cpu_all);
    row("our tensor path on flex (prepare_batch)", tensor);
    match on_wgpu {
        Ok((d, path)) => println!(
            "| our tensor path on native {path} (prepare_batch) | {:.1} | {:.1} |",
            rate(d),
            d.as_secs_f64() * 1e3 / batches as f64
        ),
        Err(error) => println!("| our tensor path on native wgpu | n/a: {error} | |"),
    }
    Ok(())
}

/// The time of every batch but the first (which warms caches).
fn time_batches(
    params: &[Vec<TransformParams>],
    mut run: impl FnMut(&[TransformParams]),
) -> Duration {
    let mut total = Duration::ZERO;
    for (i, batch) in params.iter().enumerate() {
        let start = Instant::now();
        run(batch);
        if i > 0 {
            total += start.elapsed();
        }
    }
    total
}

/// The median of `n` runs of `run`.
fn median_of(n: usize, mut run: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..n).map(|_| run()).collect();
    times.sort();
    times[n / 2]
}

/// One batch through the CPU path, its images spread over `threads` threads.
fn cpu_batch(spec: &AugmentSpec, params: &[TransformParams], images: &[Plane], threads: usize) {
    let per_thread = images.len().div_ceil(threads.max(1));
    std::thread::scope(|scope| {
        for (imgs, ps) in images.chunks(per_thread).zip(params.chunks(per_thread)) {
            scope.spawn(move || {
                for (img, p) in imgs.iter().zip(ps) {
                    std::hint::black_box(
                        prepare_image(spec, p, None, img).expect("no featurewise"),
                    );
                }
            });
        }
    });
}

/// Eight 320² grey images: the samples resized, repeated to fill the batch, or synthetic.
fn load_images() -> Vec<Plane> {
    let folder =
        std::env::var("CXR_SAMPLES").unwrap_or_else(|_| "/work/shared/data/samples".into());
    let mut loaded: Vec<Plane> = std::fs::read_dir(&folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| image::open(entry.path()).ok())
        .map(|img| {
            let grey = image::imageops::resize(
                &img.to_luma8(),
                SIDE as u32,
                SIDE as u32,
                image::imageops::FilterType::Triangle,
            );
            Plane::from_u8(SIDE, SIDE, grey.as_raw()).expect("resized to SIDE²")
        })
        .collect();
    if loaded.is_empty() {
        eprintln!("no images in {folder}: using synthetic ones");
        loaded.push(Plane {
            height: SIDE,
            width: SIDE,
            pixels: (0..SIDE * SIDE)
                .map(|i| ((i % SIDE + i / SIDE) % 256) as f32)
                .collect(),
        });
    }
    (0..BATCH)
        .map(|i| loaded[i % loaded.len()].clone())
        .collect()
}
