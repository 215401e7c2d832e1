//! Labels and metadata of chest X-ray data sets: what each image shows, whose it is, and which
//! side of the split it belongs to. Pure Rust: no image decoding, no burn, no DOM, so it builds
//! for wasm32 and natively and is tested with `cargo test`.
//!
//! - [`finding`]: the 14 NIH ChestX-ray14 findings, in NIH order (the model's output order).
//! - [`labels`]: parsers for NIH `Data_Entry_2017` CSVs (2017 and v2020 forms), CheXpert CSVs
//!   and folder-per-class listings, into one [`LabelTable`]. A bad row is reported and skipped,
//!   not fatal.
//! - [`options`]: the user's label choices (CheXpert's uncertain labels, findings left out).
//! - [`split`]: a seeded, reproducible train/validation/test split by patient, so no patient is
//!   on two sides.
//! - [`frequency`]: positives per finding on each side of the split, for the class-balance chart.
//! - [`image`]: PNG/JPEG bytes to one grey `u8` square at the working resolution;
//!   [`dicom`]: the same from uncompressed DICOM.
//! - [`store`]: the loaded images, once, as `u8`.
//! - [`ingest`]: dropped files in, a store, labels and "Issues with your data" out.
//! - [`summary`]: the plain-data summary of a loaded set that the worker sends the page.
//!
//! The image pipeline joins images to rows by file name with [`LabelTable::lookup`].

pub mod dicom;
mod dicom_lengths;
#[cfg(not(target_arch = "wasm32"))]
pub mod disk;
pub mod finding;
pub mod frequency;
pub mod image;
pub mod ingest;
pub mod labels;
pub mod options;
pub mod output;
pub mod split;
pub mod store;
pub mod summary;

pub use dicom::decode_dicom;
pub use finding::Finding;
pub use frequency::{ClassCount, Frequencies, SplitFrequencies, class_frequencies};
pub use image::{DEFAULT_SIDE, GreyImage, ImageError, ImageErrorKind, decode_grey};
pub use ingest::{Added, DataIssue, Dataset, FileKind, Ingest, classify};
pub use labels::{
    LabelError, LabelFormat, LabelRow, LabelTable, Location, LookupError, PatientId, ProblemKind,
    RowProblem, Targets, UncertainPolicy,
};
pub use options::{DataView, FindingSet, LabelOptions};
pub use output::Output;
pub use split::{PatientSplit, SideSummary, Split, SplitConfig, SplitError, SplitSummary};
pub use store::ImageStore;
pub use summary::{DatasetSummary, IssueLine, SplitView};
