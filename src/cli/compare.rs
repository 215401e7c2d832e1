//! `cxr compare`: the article's experiment. Each augmentation level is trained from the same
//! initial weights, on the same patient split, with the same budget and seed, one after
//! another, and tested on the same test split; the result is a JSON report and the article's
//! table in Markdown (a row per output, a column per level).
//!
//! Training and evaluation of a level are [`train_level`], the very code `cxr train` runs, so a
//! level here and a `cxr train` run with the same options give the same numbers.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::train::{
    Level, LevelReport, Prepared, RunOptions, SplitSizes, TestResult, TrainCliError, train_level,
    write_json,
};

/// The usage text of `cxr compare`.
pub const USAGE: &str = "cxr compare --images DIR [--labels CSV] \
--levels none,basic,complex[,SPEC.json] [--size N] [--epochs N] [--batch N] [--lr X] \
[--backend cpu|wgpu] [--weights FILE.safetensors] [--outputs findings|abnormal] \
[--split 0.7,0.1,0.2] [--seed S] [--model densenet121|small] [--report COMPARISON.json]";

/// `cxr compare`'s arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareArgs {
    /// Data, model and budget, shared by every level.
    pub run: RunOptions,
    /// The levels, in column order: presets or spec files. Default none, basic, complex.
    pub levels: Vec<String>,
    /// Where the JSON report goes; not written when absent.
    pub report: Option<PathBuf>,
}

impl CompareArgs {
    /// Parses the arguments after `compare`.
    ///
    /// # Errors
    /// [`TrainCliError::Usage`], ending with the usage line.
    pub fn parse(args: &[String]) -> Result<Self, TrainCliError> {
        let usage = |why: String| TrainCliError::Usage(format!("{why}\nusage: {USAGE}"));
        let mut parsed = CompareArgs {
            run: RunOptions::default(),
            levels: ["none", "basic", "complex"].map(str::to_owned).to_vec(),
            report: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            if parsed.run.take(flag, &mut value).map_err(usage)? {
                continue;
            }
            match flag.as_str() {
                "--levels" => {
                    parsed.levels = value()
                        .map_err(usage)?
                        .split(',')
                        .map(|l| l.trim().to_owned())
                        .filter(|l| !l.is_empty())
                        .collect();
                }
                "--report" => parsed.report = Some(PathBuf::from(value().map_err(usage)?)),
                other => return Err(usage(format!("unknown option {other}"))),
            }
        }
        parsed.run.check().map_err(usage)?;
        if parsed.levels.is_empty() {
            return Err(usage("--levels names no level".to_owned()));
        }
        Ok(parsed)
    }
}

/// `comparison.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The options every level shared.
    pub options: RunOptions,
    /// What ran, and on which adapter (see [`super::train::TrainReport::backend`]).
    pub backend: String,
    /// How the weights started (the same for every level).
    pub initial_weights: String,
    /// The patient split (the same for every level).
    pub split: SplitSizes,
    /// Seconds to load and decode the images.
    pub load_s: f64,
    /// One per level, in column order.
    pub levels: Vec<LevelReport>,
    /// Seconds for the whole comparison.
    pub total_s: f64,
}

/// Runs `cxr compare`; see the module doc. Progress goes to `log`.
///
/// # Errors
/// [`TrainCliError`] when a level, the data, the weights, training or the report fails.
pub fn run(args: &CompareArgs, log: &mut dyn FnMut(&str)) -> Result<Comparison, TrainCliError> {
    let started = std::time::Instant::now();
    // Every spec is read and checked before hours of training, not after the first level.
    let levels: Vec<Level> = args
        .levels
        .iter()
        .map(|l| Level::resolve(l))
        .collect::<Result<_, _>>()?;
    let prepared = Prepared::load(&args.run, log)?;
    let mut reports = Vec::with_capacity(levels.len());
    for level in &levels {
        log(&format!("level {}: training", level.name));
        let (report, _) = train_level(&prepared, &args.run, level, log)?;
        reports.push(report);
    }
    let comparison = Comparison {
        options: args.run.clone(),
        backend: prepared.backend.path(),
        initial_weights: prepared.initial_weights.clone(),
        split: prepared.split_sizes(),
        load_s: prepared.load_s,
        levels: reports,
        total_s: started.elapsed().as_secs_f64(),
    };
    if let Some(path) = &args.report {
        write_json(path, &comparison)?;
    }
    Ok(comparison)
}

/// The article's table: a row per output, a column per level with `AUC (low–high)`, then the
/// mean AUC and the outputs above chance (AUC > 0.5, out of those with an AUC). The best of
/// each row is bold (every level that ties with it at the three decimals shown); `n/a` where
/// the test split lacks positives or negatives for an output.
///
/// `levels` are `(column name, test result)`; all results list the same outputs in the same
/// order (they come from the same split).
#[must_use]
pub fn markdown_table(levels: &[(&str, &TestResult)]) -> String {
    let mut out = String::from("| Output |");
    for (name, _) in levels {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|");
    for _ in levels {
        out.push_str("---|");
    }
    out.push('\n');
    let rows = levels.first().map_or(0, |(_, t)| t.outputs.len());
    for row in 0..rows {
        let name = levels[0].1.outputs[row].output.as_str();
        let cells: Vec<(Option<f64>, String)> = levels
            .iter()
            .map(|(_, t)| match t.outputs.get(row) {
                Some(o) => (o.auc, auc_cell(o.auc, o.low, o.high)),
                None => (None, "n/a".to_owned()),
            })
            .collect();
        push_row(&mut out, name, &cells);
    }
    let means: Vec<(Option<f64>, String)> = levels
        .iter()
        .map(|(_, t)| (t.mean_auc, auc_cell(t.mean_auc, None, None)))
        .collect();
    push_row(&mut out, "Mean AUC", &means);
    let above: Vec<(Option<f64>, String)> = levels
        .iter()
        .map(|(_, t)| {
            (
                Some(t.above_chance as f64),
                format!("{}/{}", t.above_chance, t.with_auc),
            )
        })
        .collect();
    push_row(&mut out, "Above chance (AUC > 0.5)", &above);
    out
}

/// `0.812 (0.771–0.850)`, `0.812` without an interval, `n/a` without an AUC.
fn auc_cell(auc: Option<f64>, low: Option<f64>, high: Option<f64>) -> String {
    match (auc, low, high) {
        (Some(auc), Some(low), Some(high)) => format!("{auc:.3} ({low:.3}–{high:.3})"),
        (Some(auc), _, _) => format!("{auc:.3}"),
        (None, _, _) => "n/a".to_owned(),
    }
}

/// A row with the cells whose value is the row's largest in bold. Values are compared as
/// shown (three decimals), so two cells that read the same are both bold.
fn push_row(out: &mut String, name: &str, cells: &[(Option<f64>, String)]) {
    let shown = |v: f64| (v * 1000.0).round() as i64;
    let best = cells.iter().filter_map(|(v, _)| v.map(shown)).max();
    let _ = write!(out, "| {name} |");
    for (value, text) in cells {
        if value.is_some_and(|v| Some(shown(v)) == best) {
            let _ = write!(out, " **{text}** |");
        } else {
            let _ = write!(out, " {text} |");
        }
    }
    out.push('\n');
}

/// The table of a finished comparison.
#[must_use]
pub fn comparison_table(comparison: &Comparison) -> String {
    let levels: Vec<(&str, &TestResult)> = comparison
        .levels
        .iter()
        .map(|l| (l.level.name.as_str(), &l.test))
        .collect();
    markdown_table(&levels)
}

#[cfg(test)]
mod tests {
    use super::super::train::OutputResult;
    use super::*;

    fn output(name: &str, auc: Option<f64>, ci: Option<(f64, f64)>) -> OutputResult {
        OutputResult {
            output: name.to_owned(),
            positives: usize::from(auc.is_some()),
            negatives: 3,
            auc,
            low: ci.map(|c| c.0),
            high: ci.map(|c| c.1),
        }
    }

    #[test]
    fn the_table_bolds_each_rows_best_and_writes_n_a() {
        let none = TestResult {
            images: 10,
            outputs: vec![
                output("Atelectasis", Some(0.61), Some((0.5, 0.7))),
                output("Hernia", None, None),
                output("Edema", Some(0.4), Some((0.3, 0.5))),
            ],
            mean_auc: Some(0.505),
            above_chance: 1,
            with_auc: 2,
        };
        let basic = TestResult {
            images: 10,
            outputs: vec![
                output("Atelectasis", Some(0.7), Some((0.6, 0.8))),
                output("Hernia", None, None),
                output("Edema", Some(0.4), Some((0.35, 0.45))),
            ],
            mean_auc: Some(0.55),
            above_chance: 1,
            with_auc: 2,
        };
        let table = markdown_table(&[("none", &none), ("basic", &basic)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "| Output | none | basic |",
                "|---|---|---|",
                "| Atelectasis | 0.610 (0.500–0.700) | **0.700 (0.600–0.800)** |",
                "| Hernia | n/a | n/a |",
                // A tie: both bold.
                "| Edema | **0.400 (0.300–0.500)** | **0.400 (0.350–0.450)** |",
                "| Mean AUC | 0.505 | **0.550** |",
                "| Above chance (AUC > 0.5) | **1/2** | **1/2** |",
            ]
        );
    }

    #[test]
    fn levels_default_to_the_articles_three_and_are_parsed_in_order() {
        let args =
            |a: &[&str]| CompareArgs::parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            args(&["--images", "x"]).expect("valid").levels,
            ["none", "basic", "complex"]
        );
        assert_eq!(
            args(&["--images", "x", "--levels", "basic, spec.json"])
                .expect("valid")
                .levels,
            ["basic", "spec.json"]
        );
        assert!(matches!(
            args(&["--images", "x", "--levels", ","]),
            Err(TrainCliError::Usage(_))
        ));
    }
}
