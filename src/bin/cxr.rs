//! `cxr`: the native command line on the same engine as the page.
//!
//! Today it has one command, `cxr smoke [--steps N] [--seed S]`: the page's training step on the
//! CPU (burn `flex`), printing the loss before and after each Adam step.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::backend::cpu_device;
#[cfg(not(target_arch = "wasm32"))]
use cxr_lab::train::smoke_step::SmokeTrainer;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("smoke") => match smoke(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("cxr smoke: {message}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: cxr smoke [--steps N] [--seed S]");
            ExitCode::from(2)
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn smoke(args: &[String]) -> Result<(), String> {
    let mut steps = 5usize;
    let mut seed = 42u64;
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
            other => return Err(format!("unknown option {other}")),
        }
    }
    let mut trainer = SmokeTrainer::new(&cpu_device().autodiff(), seed);
    for _ in 0..steps {
        let report = pollster::block_on(trainer.step()).map_err(|e| e.to_string())?;
        println!(
            "step {}: loss {:.5} → {:.5}",
            report.step, report.loss_before, report.loss_after
        );
    }
    Ok(())
}
