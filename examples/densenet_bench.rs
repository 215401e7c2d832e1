//! Images per second and peak memory of DenseNet121 on the CPU (burn `flex`): inference and a
//! training step, batch 8, at each requested size. This is a benchmark, not a test; on a shared,
//! busy machine the figures are indicative (each is a median; `uptime` is printed with them).
//!
//! `cargo run --release --example densenet_bench -- [--sizes 64,128,224] [--batch 8] [--steps 5]
//! [--json]`
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
//! (`VmHWM`) is its own. The native build has no wgpu backend (Cargo.toml enables it for wasm32
//! only), so there is no GPU row here.

use std::process::{Command, Stdio};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use cxr_lab::backend::cpu_device;
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
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    if let Some((mode, size)) = options.child {
        let m = measure(mode, size, &options);
        // One line the parent parses.
        println!(
            "RESULT {} {} {} {} {} {}",
            m.mode.name(),
            m.size,
            m.seconds,
            m.images_per_second,
            m.peak_rss_mib,
            m.cpu_seconds
        );
        return Ok(());
    }
    let mut results = Vec::new();
    for &size in &options.sizes {
        for mode in [Mode::Infer, Mode::Train] {
            let m = run_child(mode, size, &options)?;
            if options.json {
                println!(
                    "{{\"library\": \"burn flex\", \"mode\": \"{}\", \"size\": {}, \"seconds\": {:.4}, \"cpu_seconds\": {:.4}, \"images_per_second\": {:.3}, \"peak_rss_mib\": {:.0}}}",
                    m.mode.name(),
                    m.size,
                    m.seconds,
                    m.cpu_seconds,
                    m.images_per_second,
                    m.peak_rss_mib
                );
            } else {
                eprintln!(
                    "{} {}²: {:.2} images/s, peak {:.0} MiB",
                    m.mode.name(),
                    m.size,
                    m.images_per_second,
                    m.peak_rss_mib
                );
            }
            results.push(m);
        }
    }
    if !options.json {
        print_table(&results, &options);
    }
    Ok(())
}

fn parse_args() -> Result<Options, Box<dyn std::error::Error>> {
    let mut options = Options {
        sizes: vec![64, 128, 224],
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
    let [_, _, seconds, rate, peak, cpu] = fields[..] else {
        return Err(format!("bad result line {line}").into());
    };
    Ok(Measurement {
        mode,
        size,
        seconds: seconds.parse()?,
        cpu_seconds: cpu.parse()?,
        images_per_second: rate.parse()?,
        peak_rss_mib: peak.parse()?,
    })
}

/// Times `options.steps` batches of `mode` at `size`² after `options.warmup` untimed ones.
fn measure(mode: Mode, size: usize, options: &Options) -> Measurement {
    let batch = options.batch;
    let device = cpu_device();
    device.seed(7);
    let images = Tensor::<4>::random(
        [batch, CHANNELS, size, size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let mut times = Vec::with_capacity(options.steps);
    let mut cpu_times = Vec::with_capacity(options.steps);
    match mode {
        Mode::Infer => {
            let model = seeded_on(1, &device, densenet121).valid();
            for i in 0..options.warmup + options.steps {
                let (start, cpu) = (Instant::now(), cpu_seconds());
                infer_batch(&model, images.clone());
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
                if i >= options.warmup {
                    times.push(start.elapsed().as_secs_f64());
                    cpu_times.push(cpu_seconds() - cpu);
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

fn print_table(results: &[Measurement], options: &Options) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "DenseNet121 ({CLASSES} outputs, {CHANNELS} channel), batch {}, median of {} batches after {} warm-up; burn flex on {threads} threads; load average {}",
        options.batch,
        options.steps,
        options.warmup,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| size | mode | images/s | s per batch | CPU s per batch | peak RSS (MiB) |");
    println!("|---|---|---|---|---|---|");
    for m in results {
        println!(
            "| {}² | {} | {:.2} | {:.3} | {:.3} | {:.0} |",
            m.size,
            m.mode.name(),
            m.images_per_second,
            m.seconds,
            m.cpu_seconds,
            m.peak_rss_mib
        );
    }
    println!(
        "(native wgpu: not measured; the native build has no wgpu backend, Cargo.toml enables it for wasm32 only)"
    );
}
