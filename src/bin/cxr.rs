//! `cxr`: the native command line on the same engine as the page.
//!
//! - `cxr smoke [--steps N] [--seed S] [--backend cpu|wgpu]`: the page's training step on the
//!   CPU (burn `flex`) or the GPU through wgpu, printing the loss before and after each Adam
//!   step.
//! - `cxr predict --model MODEL.safetensors --csv OUT.csv IMAGES...`: a saved model's
//!   probabilities per image, as CSV ([`cxr_lab::cli::predict`]).
//! - `cxr train --images DIR --aug basic --out MODEL.safetensors --report REPORT.json …`: one
//!   training run, tested on the held-out patients ([`cxr_lab::cli::train`]).
//! - `cxr compare --images DIR --levels none,basic,complex --report COMPARISON.json …`: the
//!   article's augmentation comparison, its table printed as Markdown
//!   ([`cxr_lab::cli::compare`]).
//!
//! Every command takes `--backend cpu|wgpu` (default cpu); `wgpu` is the GPU through wgpu
//! (Vulkan, Metal, DX12; Mesa's lavapipe where there is no GPU), and a machine without any
//! adapter gets a sentence saying what to install, not a panic.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::backend::{BackendChoice, native_device};
#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::cli::compare::{CompareArgs, USAGE as COMPARE_USAGE, comparison_table};
#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::cli::predict::{PredictArgs, USAGE as PREDICT_USAGE};
#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::cli::train::{TrainArgs, TrainCliError, USAGE as TRAIN_USAGE};
#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::train::smoke_step::SmokeTrainer;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    cxr_lab::backend::run_cpu_kernels_on_this_thread();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("smoke") => match smoke(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("cxr smoke: {message}");
                ExitCode::from(2)
            }
        },
        Some("predict") => predict(&args[1..]),
        Some("train") => finish("train", train(&args[1..])),
        Some("compare") => finish("compare", compare(&args[1..])),
        _ => {
            eprintln!(
                "usage: cxr smoke [--steps N] [--seed S] [--backend cpu|wgpu]\n       {PREDICT_USAGE}\n       \
                 {TRAIN_USAGE}\n       {COMPARE_USAGE}"
            );
            ExitCode::from(2)
        }
    }
}

/// Exit status: 0 when every image was predicted, 1 when some were skipped (the CSV holds the
/// others), 2 when the run could not start or stopped.
#[cfg(not(target_arch = "wasm32"))]
fn predict(args: &[String]) -> ExitCode {
    let args = match PredictArgs::parse(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("cxr predict: {error}");
            return ExitCode::from(2);
        }
    };
    let device = match native_device(args.backend) {
        Ok((device, backend)) => {
            eprintln!("cxr predict: backend {}", backend.path());
            device
        }
        Err(error) => {
            eprintln!("cxr predict: --backend wgpu: {error}");
            return ExitCode::from(2);
        }
    };
    let report = cxr_lab::cli::predict::run(&args, &device, |p| {
        eprintln!("cxr predict: {}/{} images", p.done, p.total);
    });
    match report {
        Ok(report) => {
            for skipped in &report.skipped {
                eprintln!(
                    "cxr predict: skipped {}: {}",
                    skipped.path.display(),
                    skipped.reason
                );
            }
            println!(
                "{} images predicted, {} skipped; probabilities in {}",
                report.predicted,
                report.skipped.len(),
                args.csv.display()
            );
            if report.skipped.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("cxr predict: {error}");
            ExitCode::from(2)
        }
    }
}

/// Exit status 0 on success, 2 when the run could not start or stopped.
#[cfg(not(target_arch = "wasm32"))]
fn finish(command: &str, result: Result<(), TrainCliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cxr {command}: {error}");
            ExitCode::from(2)
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn train(args: &[String]) -> Result<(), TrainCliError> {
    let args = TrainArgs::parse(args)?;
    let report = cxr_lab::cli::train::run(&args, &mut |line| eprintln!("cxr train: {line}"))?;
    let test = &report.run.test;
    let mean = test
        .mean_auc
        .map_or_else(|| "n/a".to_owned(), |a| format!("{a:.3}"));
    println!(
        "test mean AUC {mean} over {} outputs ({} above chance), best epoch {}, {:.0} s of training",
        test.with_auc,
        test.above_chance,
        report.run.best_epoch.unwrap_or(0),
        report.run.timings.train_s
    );
    Ok(())
}

/// Progress goes to stderr; stdout gets only the Markdown table, ready to paste.
#[cfg(not(target_arch = "wasm32"))]
fn compare(args: &[String]) -> Result<(), TrainCliError> {
    let args = CompareArgs::parse(args)?;
    let comparison =
        cxr_lab::cli::compare::run(&args, &mut |line| eprintln!("cxr compare: {line}"))?;
    print!("{}", comparison_table(&comparison));
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn smoke(args: &[String]) -> Result<(), String> {
    let mut steps = 5usize;
    let mut seed = 42u64;
    let mut backend = BackendChoice::Cpu;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--steps" => {
                steps = value
                    .parse()
                    .map_err(|_| format!("--steps {value}: not a count"))?
            }
            "--seed" => {
                seed = value
                    .parse()
                    .map_err(|_| format!("--seed {value}: not a number"))?
            }
            "--backend" => backend = BackendChoice::parse(value)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let (device, info) = native_device(backend).map_err(|e| format!("--backend wgpu: {e}"))?;
    eprintln!("cxr smoke: backend {}", info.path());
    let mut trainer = SmokeTrainer::new(&device.autodiff(), seed);
    for _ in 0..steps {
        let report = pollster::block_on(trainer.step()).map_err(|e| e.to_string())?;
        println!(
            "step {}: loss {:.5} → {:.5}",
            report.step, report.loss_before, report.loss_after
        );
    }
    Ok(())
}
