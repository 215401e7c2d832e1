//! `cxr compare` end to end on the 800 real NIH images of the demo set, on a tiny budget (the
//! small DenseNet, 32² inputs, one epoch, two levels): a second or two of training, so that the
//! whole path (load, patient split, training per level, test evaluation, JSON report, Markdown
//! table) runs under `cargo test`.
#![cfg(not(target_arch = "wasm32"))]

use cxr_lab::cli::compare::{CompareArgs, Comparison, comparison_table, run};
use cxr_lab::data::Finding;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www/demo/nih800");

#[test]
fn compare_trains_each_level_on_the_same_split_and_prints_the_articles_table() {
    let dir = std::env::temp_dir().join(format!("cxr-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = dir.join("comparison.json");
    let args: Vec<String> = [
        "--images",
        DEMO,
        "--size",
        "32",
        "--model",
        "small",
        "--epochs",
        "1",
        "--levels",
        "none,basic",
        "--seed",
        "1",
        "--report",
        &report.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let args = CompareArgs::parse(&args).expect("valid command line");
    let mut lines = Vec::new();
    let comparison = run(&args, &mut |line| lines.push(line.to_owned())).expect("runs");

    // The report on disk is the one returned (up to serde_json's float parsing, which may
    // be one ulp off).
    let written: Comparison =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report written"))
            .expect("report parses");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(written.levels.len(), comparison.levels.len());
    for (w, c) in written.levels.iter().zip(&comparison.levels) {
        assert_eq!(w.level, c.level);
        assert_eq!(w.train_config, c.train_config);
        let (w, c) = (
            w.test.mean_auc.expect("a mean"),
            c.test.mean_auc.expect("a mean"),
        );
        assert!((w - c).abs() < 1e-12, "{w} vs {c}");
    }

    let names: Vec<&str> = comparison
        .levels
        .iter()
        .map(|l| l.level.name.as_str())
        .collect();
    assert_eq!(names, ["none", "basic"]);
    let split = comparison.split;
    assert_eq!(split.train + split.validation + split.test, 800);
    for level in &comparison.levels {
        assert_eq!(level.history.len(), 1, "{}", level.level.name);
        assert_eq!(level.test.images, split.test);
        assert_eq!(level.test.outputs.len(), Finding::COUNT);
        assert!(level.test.with_auc > 0, "{}", level.level.name);
        for output in &level.test.outputs {
            if let (Some(auc), Some(low), Some(high)) = (output.auc, output.low, output.high) {
                assert!(low <= auc && auc <= high, "{output:?}");
            }
        }
        assert_eq!(level.train_config.seed, 1);
    }
    // "none" feeds `[0, 1]` pixels, "basic" normalises each image: the runs really differ.
    assert_ne!(
        comparison.levels[0].train_config.input.normalization,
        comparison.levels[1].train_config.input.normalization
    );
    assert_ne!(comparison.levels[0].history, comparison.levels[1].history);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("images/s") && l.contains("ETA"))
    );

    let table = comparison_table(&comparison);
    let rows: Vec<&str> = table.lines().collect();
    // Header, rule, 14 findings, mean AUC, above chance.
    assert_eq!(rows.len(), 2 + Finding::COUNT + 2, "{table}");
    assert_eq!(rows[0], "| Output | none | basic |");
    for (row, finding) in rows[2..].iter().zip(Finding::ALL) {
        assert!(row.starts_with(&format!("| {} |", finding.name())), "{row}");
    }
    assert!(rows[rows.len() - 2].starts_with("| Mean AUC |"));
    assert!(rows[rows.len() - 1].starts_with("| Above chance (AUC > 0.5) |"));
    for row in &rows[2..] {
        // Three pipes around two cells plus the name.
        assert_eq!(row.matches('|').count(), 4, "{row}");
        // A row with an AUC has a best; a row without one is all n/a.
        assert!(
            row.contains("**") || row.matches("n/a").count() == 2,
            "{row}"
        );
    }
}

/// `cxr train --weights` with torchxrayvision's format (a whole pickled `xrv.models.DenseNet`,
/// here the tiny fixture): recognised by content, trained from, saved with its normalisation.
#[test]
fn train_starts_from_torchxrayvision_weights() {
    use cxr_lab::cli::train::{TrainArgs, run as train};
    use cxr_lab::model::pretrained::XRV_NORMALIZATION;

    let dir = std::env::temp_dir().join(format!("cxr-xrv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("model.safetensors");
    let weights = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pth/xrv_tiny.pt"
    );
    let args: Vec<String> = [
        "--images",
        DEMO,
        "--size",
        "32",
        "--epochs",
        "1",
        "--weights",
        weights,
        "--out",
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let args = TrainArgs::parse(&args).expect("valid command line");
    let report = train(&args, &mut |_| {}).expect("trains from the xrv weights");
    assert!(
        report
            .initial_weights
            .contains("torchxrayvision DenseNet (blocks [2, 2], growth 4), 18 outputs, 1 channel"),
        "{}",
        report.initial_weights
    );
    assert!(
        report
            .initial_weights
            .contains("14 of 14 outputs start from its classifier"),
        "{}",
        report.initial_weights
    );
    let bytes = std::fs::read(&out).expect("model saved");
    let meta = cxr_lab::model::file::read_meta(&bytes).expect("a model file");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(meta.input.channels, 1);
    assert_eq!(meta.input.normalization, XRV_NORMALIZATION);
    assert_eq!(meta.outputs.len(), Finding::ALL.len());
}
