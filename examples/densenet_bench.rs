//! Images per second and peak memory of DenseNet121 on the CPU (burn `flex`) or on the GPU
//! through wgpu (`--backend wgpu`): inference and a training step, batch 8, at each requested
//! size. This is a benchmark, not a test; on a shared, busy machine the figures are indicative
//! (each is a median; `uptime` is printed with them).
//!
//! `cargo run --release --example densenet_bench -- [--sizes 64,128,224] [--batch 8] [--steps 5]
//! [--warmup 2] [--modes infer,train] [--backend cpu|wgpu] [--json]`
//!
//! The model is `DenseNetConfig::densenet121(14, 1)`: 14 outputs (the NIH findings) on grey,
//! 1-channel images, as the page trains it; `benches/densenet_bench.py` builds the same network
//! in PyTorch and TensorFlow. What is timed, per batch, after `--warmup` untimed batches:
//! - inference: `model.valid()` on the plain device, `forward_probabilities`, the probabilities
//!   read back (what `train::predict` does);
//! - training: forward, the class-weighted masked BCE (`train::loss`), backward, the gradients
//!   through a `GradientsAccumulator` and a `PathAdam` step, the loss read back (what
//!   `Trainer::train_batch` does with accumulation 1 and `loss_every` 1).
//!
//! Each (mode, size) runs in a child process of this program, so that its peak resident memory
//! (`VmHWM`) is its own. On wgpu the warm-up batches carry shader compilation and autotuning
//! (the first is reported); peak memory is then the host process's, not the GPU's, and on Mesa's
//! lavapipe (a Vulkan driver that runs on the CPU, what a machine without a GPU has) the figure
//! is a CPU's, far below flex: it checks the path, not a GPU's speed.

use std::process::{Command, Stdio};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use cxr_lab::backend::{BackendChoice, native_device};
use cxr_lab::model::densenet::{DenseNet, DenseNetConfig};
use cxr_lab::model::init::seeded_on;
use cxr_lab::train::adam::PathAdam;
use cxr_lab::train::loss::binary_cross_entropy_with_logits;

/// NIH ChestX-ray14's findings.
const CLASSES: usize = 14;
/// Grey X-rays.
const CHANNELS: usize = 1;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Infer,
    Train,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Infer => "infer",
            Mode::Train => "train",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "infer" => Ok(Mode::Infer),
            "train" => Ok(Mode::Train),
            _ => Err(format!("unknown mode {s}")),
        }
    }
}

struct Options {
    sizes: Vec<usize>,
    modes: Vec<Mode>,
    backend: BackendChoice,
    batch: usize,
    steps: usize,
    warmup: usize,
    json: bool,
    /// Set in a child process: the one configuration it measures.
    child: Option<(Mode, usize)>,
}

/// One configuration's figures.
struct Measurement {
    mode: Mode,
    size: usize,
    /// Median seconds per batch.
    seconds: f64,
    /// Median CPU seconds per batch, all threads: what the batch cost, even when other
    /// programs share the cores (then `seconds` grows, this hardly does).
    cpu_seconds: f64,
    images_per_second: f64,
    peak_rss_mib: f64,
    /// Seconds of the first warm-up batch (on wgpu: shader compilation and autotune).
    first_seconds: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    cxr_lab::backend::run_cpu_kernels_on_this_thread();
    if let Some((mode, size)) = options.child {
        let m = measure(mode, size, &options);
        // One line the parent parses.
        println!(
            "RESULT {} {} {} {} {} {} {}",
            m.mode.name(),
            m.size,
            m.seconds,
            m.images_per_second,
            m.peak_rss_mib,
            m.cpu_seconds,
            m.first_seconds
        );
        return Ok(());
    }
    // The path's name, once: a missing GPU stops here with its sentence.
    let (_, backend) = native_device(options.backend)?;
    let library = format!("burn {}", backend.path());
    let mut results = Vec::new();
    for &size in &options.sizes {
        for &mode in &options.modes {
            let m = run_child(mode, size, &options)?;
            if options.json {
                println!(
                    "{{\"library\": {}, \"mode\": \"{}\", \"size\": {}, \"seconds\": {:.4}, \"cpu_seconds\": {:.4}, \"images_per_second\": {:.3}, \"peak_rss_mib\": {:.0}, \"first_seconds\": {:.3}}}",
                    serde_json::Value::from(library.as_str()),
                    m.mode.name(),
                    m.size,
                    m.seconds,
                    m.cpu_seconds,
                    m.images_per_second,
                    m.peak_rss_mib,
                    m.first_seconds
                );
            } else {
                eprintln!(
                    "{} {}²: {:.2} images/s, peak {:.0} MiB, first batch {:.1} s",
                    m.mode.name(),
                    m.size,
                    m.images_per_second,
                    m.peak_rss_mib,
                    m.first_seconds
                );
            }
            results.push(m);
        }
    }
    if !options.json {
        print_table(&results, &options, &library);
    }
    Ok(())
}

fn parse_args() -> Result<Options, Box<dyn std::error::Error>> {
    let mut options = Options {
        sizes: vec![64, 128, 224],
        modes: vec![Mode::Infer, Mode::Train],
        backend: BackendChoice::Cpu,
        batch: 8,
        steps: 5,
        warmup: 2,
        json: false,
        child: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--sizes" => {
                options.sizes = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--modes" => {
                options.modes = value()?
                    .split(',')
                    .map(Mode::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--backend" => options.backend = BackendChoice::parse(&value()?)?,
            "--batch" => options.batch = value()?.parse()?,
            "--steps" => options.steps = value()?.parse()?,
            "--warmup" => options.warmup = value()?.parse()?,
            "--json" => options.json = true,
            "--child" => {
                let spec = value()?;
                let (mode, size) = spec.split_once(':').ok_or("--child MODE:SIZE")?;
                options.child = Some((Mode::parse(mode)?, size.parse()?));
            }
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    options.steps = options.steps.max(1);
    options.warmup = options.warmup.max(1);
    Ok(options)
}

/// Runs one configuration in a child process and parses its result line.
fn run_child(
    mode: Mode,
    size: usize,
    options: &Options,
) -> Result<Measurement, Box<dyn std::error::Error>> {
    let output = Command::new(std::env::current_exe()?)
        .args([
            "--child",
            &format!("{}:{size}", mode.name()),
            "--batch",
            &options.batch.to_string(),
            "--steps",
            &options.steps.to_string(),
            "--warmup",
            &options.warmup.to_string(),
            "--backend",
            match options.backend {
                BackendChoice::Cpu => "cpu",
                BackendChoice::Wgpu => "wgpu",
            },
        ])
        // The child's progress and phase lines go straight to our stderr.
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("{} {size}² failed ({})", mode.name(), output.status))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_, _, seconds, rate, peak, cpu, first] = fields[..] else {
        return Err(format!("bad result line {line}").into());
    };
    Ok(Measurement {
        mode,
        size,
        seconds: seconds.parse()?,
        cpu_seconds: cpu.parse()?,
        images_per_second: rate.parse()?,
        peak_rss_mib: peak.parse()?,
        first_seconds: first.parse()?,
    })
}

/// Times `options.steps` batches of `mode` at `size`² after `options.warmup` untimed ones.
fn measure(mode: Mode, size: usize, options: &Options) -> Measurement {
    let batch = options.batch;
    let (device, _) = native_device(options.backend).expect("the parent process opened it");
    // Drawn on the CPU so that every backend gets the same images.
    let host = cxr_lab::backend::cpu_device();
    host.seed(7);
    let images = Tensor::<4>::random(
        [batch, CHANNELS, size, size],
        Distribution::Normal(0.0, 1.0),
        &host,
    )
    .to_device(&device);
    let on_gpu = options.backend == BackendChoice::Wgpu;
    let mut times = Vec::with_capacity(options.steps);
    let mut cpu_times = Vec::with_capacity(options.steps);
    let mut first_seconds = 0.0;
    match mode {
        Mode::Infer => {
            let model = seeded_on(1, &device, densenet121).valid();
            for i in 0..options.warmup + options.steps {
                let (start, cpu) = (Instant::now(), cpu_seconds());
                infer_batch(&model, images.clone());
                if i == 0 {
                    first_seconds = start.elapsed().as_secs_f64();
                }
                if i >= options.warmup {
                    times.push(start.elapsed().as_secs_f64());
                    cpu_times.push(cpu_seconds() - cpu);
                }
            }
        }
        Mode::Train => {
            let device = device.autodiff();
            let images = images.to_device(&device);
            let mut step = TrainStep::new(batch, &device);
            for i in 0..options.warmup + options.steps {
                let (start, cpu) = (Instant::now(), cpu_seconds());
                let (_, [forward, backward, adam]) = step.run(images.clone());
                if i == 0 {
                    first_seconds = start.elapsed().as_secs_f64();
                }
                // On wgpu work is queued and runs at the read-back: no per-phase clock.
                if i >= options.warmup {
                    times.push(start.elapsed().as_secs_f64());
                    cpu_times.push(cpu_seconds() - cpu);
                }
                if i >= options.warmup && !on_gpu {
                    // For the profile (docs/cpu-profile.md): where a step's time goes.
                    eprintln!(
                        "phases {size}²: forward + loss {forward:.3} s, backward {backward:.3} s, Adam {adam:.3} s"
                    );
                }
            }
        }
    }
    times.sort_by(f64::total_cmp);
    cpu_times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    Measurement {
        mode,
        size,
        seconds,
        cpu_seconds: cpu_times[cpu_times.len() / 2],
        images_per_second: batch as f64 / seconds,
        peak_rss_mib: peak_rss_mib(),
        first_seconds,
    }
}

fn densenet121(device: &Device) -> DenseNet {
    DenseNetConfig::densenet121(CLASSES, CHANNELS).init(device)
}

/// What `train::predict` does with one batch.
fn infer_batch(model: &DenseNet, images: Tensor<4>) {
    let probabilities = model.forward_probabilities(images).into_data();
    std::hint::black_box(probabilities);
}

/// The model, optimizer and fixed targets of a training step as `Trainer` takes it.
struct TrainStep {
    model: Option<DenseNet>,
    optimizer: PathAdam,
    accumulator: GradientsAccumulator<DenseNet>,
    targets: Tensor<2>,
    mask: Tensor<2>,
    weights: (Tensor<1>, Tensor<1>),
}

impl TrainStep {
    fn new(batch: usize, device: &Device) -> Self {
        // About one finding in ten is positive, as in NIH; every label known.
        let targets: Vec<f32> = (0..batch * CLASSES)
            .map(|i| f32::from(u8::from(i % 10 == 3)))
            .collect();
        let tensor2 = |values: Vec<f32>| {
            Tensor::<2>::from_data(TensorData::new(values, [batch, CLASSES]), device)
        };
        let tensor1 = |value: f32| {
            Tensor::<1>::from_data(TensorData::new(vec![value; CLASSES], [CLASSES]), device)
        };
        TrainStep {
            model: Some(seeded_on(1, device, densenet121)),
            optimizer: PathAdam::new(&AdamConfig::new()),
            accumulator: GradientsAccumulator::new(),
            targets: tensor2(targets),
            mask: tensor2(vec![1.0; batch * CLASSES]),
            weights: (tensor1(0.9), tensor1(0.1)),
        }
    }

    /// Forward, loss, backward, Adam; returns the loss read back and the seconds each of the
    /// three phases took (flex computes eagerly, so the clock between them is meaningful).
    fn run(&mut self, images: Tensor<4>) -> (f32, [f64; 3]) {
        let model = self
            .model
            .take()
            .expect("the model is put back after each step");
        let start = Instant::now();
        let logits = model.forward(images);
        let loss = binary_cross_entropy_with_logits(
            logits,
            self.targets.clone(),
            Some(self.weights.clone()),
            Some(self.mask.clone()),
        );
        let forward = start.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = start.elapsed().as_secs_f64() - forward;
        self.accumulator.accumulate(&model, grads);
        let grads = self.accumulator.grads();
        self.model = Some(self.optimizer.step(1e-3, model, grads));
        let value = loss.into_scalar();
        let adam = start.elapsed().as_secs_f64() - forward - backward;
        (value, [forward, backward, adam])
    }
}

/// CPU seconds this process has run, summed over its threads (`/proc/self/task/*/schedstat`, in
/// nanoseconds); 0 where unknown.
fn cpu_seconds() -> f64 {
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        * 1e-9
}

/// This process's peak resident memory (`VmHWM` in `/proc/self/status`), in MiB; 0 where unknown.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn print_table(results: &[Measurement], options: &Options, library: &str) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "DenseNet121 ({CLASSES} outputs, {CHANNELS} channel), batch {}, median of {} batches after {} warm-up; {library}; load average {}",
        options.batch,
        options.steps,
        options.warmup,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| size | mode | images/s | s per batch | CPU s per batch | peak RSS (MiB) | first batch (s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for m in results {
        println!(
            "| {}² | {} | {:.2} | {:.3} | {:.3} | {:.0} | {:.1} |",
            m.size,
            m.mode.name(),
            m.images_per_second,
            m.seconds,
            m.cpu_seconds,
            m.peak_rss_mib,
            m.first_seconds
        );
    }
}
