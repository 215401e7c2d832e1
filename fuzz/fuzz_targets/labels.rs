//! The label parsers on arbitrary text: NIH and CheXpert CSVs under every uncertain policy, the
//! lookup of the rows' own paths, and folder-per-class listings. Errors are fine; panics are not.
#![no_main]

use cxr_lab::data::{LabelTable, UncertainPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    for policy in [
        UncertainPolicy::Ignore,
        UncertainPolicy::Negative,
        UncertainPolicy::Positive,
    ] {
        if let Ok(table) = LabelTable::parse_csv("fuzz.csv", text, policy) {
            for row in table.rows().iter().take(64) {
                let _ = table.lookup(&row.image);
            }
            for problem in table.problems().iter().take(64) {
                let _ = problem.to_string();
            }
        }
    }
    let paths: Vec<&str> = text.lines().collect();
    let table = LabelTable::from_folders("fuzz", &paths);
    for path in paths.iter().take(64) {
        let _ = table.lookup(path);
    }
});
