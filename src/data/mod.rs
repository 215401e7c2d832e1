//! Labels and metadata of chest X-ray data sets: what each image shows, whose it is, and which
//! side of the split it belongs to. Pure Rust: no image decoding, no burn, no DOM, so it builds
//! for wasm32 and natively and is tested with `cargo test`.
//!
//! - [`finding`]: the 14 NIH ChestX-ray14 findings, in NIH order (the model's output order).
//! - [`labels`]: parsers for NIH `Data_Entry_2017` CSVs (2017 and v2020 forms), CheXpert CSVs
//!   and folder-per-class listings, into one [`LabelTable`]. A bad row is reported and skipped,
//!   not fatal.
//! - [`split`]: a seeded, reproducible train/validation/test split by patient, so no patient is
//!   on two sides.
//! - [`frequency`]: positives per finding on each side of the split, for the class-balance chart.
//!
//! The image pipeline joins images to rows by file name with [`LabelTable::lookup`].

pub mod finding;
pub mod frequency;
pub mod labels;
pub mod split;

pub use finding::Finding;
pub use frequency::{ClassCount, Frequencies, SplitFrequencies, class_frequencies};
pub use labels::{
    LabelError, LabelFormat, LabelRow, LabelTable, Location, LookupError, PatientId, ProblemKind,
    RowProblem, Targets, UncertainPolicy,
};
pub use split::{PatientSplit, SideSummary, Split, SplitConfig, SplitError, SplitSummary};
