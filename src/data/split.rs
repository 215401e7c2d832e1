//! The train/validation/test split, by patient: no patient has images on two sides.
//!
//! Splitting by image (what most tutorials do, and what the `nih800` folders did) puts follow-up
//! images of one patient on both sides, and the model is then tested on people it has seen,
//! which inflates AUC. [`split_by_patient`] shuffles the patients with a seeded splitmix64 ([`crate::rng`]) and
//! deals them out until each side holds about its fraction of the *images*. The same rows and
//! seed always give the same split, whatever the row order; the seed is the training seed.
//!
//! Rows without a patient id (folder sets whose file names are not NIH-style) carry their own
//! path as patient (see `labels`), so each file is its own patient. The split hands
//! `frequency` and the batcher one [`Split`] per row.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::labels::{LabelRow, PatientId};
use crate::rng::SplitMix64;

/// A side of the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Split {
    /// Fitted on.
    Train,
    /// Watched during training (early stopping, picking a threshold).
    Validation,
    /// Reported once, at the end.
    Test,
}

impl Split {
    /// All sides, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        })
    }
}

/// How to split. The fractions are of images and need not sum to 1 (they are normalised).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Seed of the patient shuffle. Default 0; the training config passes its own seed.
    pub seed: u64,
    /// Share of images for training. Default 0.7, the NIH ChestX-ray14 paper's 70 %.
    pub train: f64,
    /// Share of images for validation. Default 0.1 (NIH paper).
    pub validation: f64,
    /// Share of images for the test. Default 0.2 (NIH paper).
    pub test: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            seed: 0,
            train: 0.7,
            validation: 0.1,
            test: 0.2,
        }
    }
}

impl SplitConfig {
    /// The default fractions with another seed.
    #[must_use]
    pub fn with_seed(self, seed: u64) -> Self {
        SplitConfig { seed, ..self }
    }

    fn fraction(&self, split: Split) -> f64 {
        match split {
            Split::Train => self.train,
            Split::Validation => self.validation,
            Split::Test => self.test,
        }
    }
}

/// A split that cannot be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// A fraction is negative or not a number, or all are zero.
    #[error(
        "split fractions train {train}, validation {validation}, test {test} are not usable; give \
         each a number of at least 0, with a sum above 0 (e.g. 0.7, 0.1, 0.2)"
    )]
    BadFractions {
        /// The train fraction given.
        train: f64,
        /// The validation fraction given.
        validation: f64,
        /// The test fraction given.
        test: f64,
    },
}

/// How much landed on one side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideSummary {
    /// Distinct patients.
    pub patients: usize,
    /// Images (rows).
    pub images: usize,
}

/// How much landed on each side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// The training side.
    pub train: SideSummary,
    /// The validation side.
    pub validation: SideSummary,
    /// The test side.
    pub test: SideSummary,
}

impl SplitSummary {
    /// One side's summary.
    #[must_use]
    pub const fn side(&self, split: Split) -> SideSummary {
        match split {
            Split::Train => self.train,
            Split::Validation => self.validation,
            Split::Test => self.test,
        }
    }

    fn side_mut(&mut self, split: Split) -> &mut SideSummary {
        match split {
            Split::Train => &mut self.train,
            Split::Validation => &mut self.validation,
            Split::Test => &mut self.test,
        }
    }
}

/// The side of every row, and the totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientSplit {
    sides: Vec<Split>,
    summary: SplitSummary,
}

impl PatientSplit {
    /// The side of each row, in the order of the rows given to [`split_by_patient`].
    #[must_use]
    pub fn sides(&self) -> &[Split] {
        &self.sides
    }

    /// The side of row `row`, or `None` past the end.
    #[must_use]
    pub fn side(&self, row: usize) -> Option<Split> {
        self.sides.get(row).copied()
    }

    /// The indices of the rows on one side.
    pub fn rows(&self, split: Split) -> impl Iterator<Item = usize> + '_ {
        self.sides
            .iter()
            .enumerate()
            .filter(move |(_, s)| **s == split)
            .map(|(i, _)| i)
    }

    /// Patients and images per side.
    #[must_use]
    pub const fn summary(&self) -> &SplitSummary {
        &self.summary
    }
}

/// Splits `rows` by patient: shuffles the distinct patients (sorted first, so row order does not
/// matter) with `config.seed`, then walks them, putting each patient on the side where the middle
/// of its images falls on the cumulative image count. Each side thus gets about its fraction of
/// images, and every image of a patient is on one side.
///
/// # Errors
/// [`SplitError::BadFractions`] if a fraction is negative or not finite, or all are zero.
pub fn split_by_patient(
    rows: &[LabelRow],
    config: &SplitConfig,
) -> Result<PatientSplit, SplitError> {
    let fractions = Split::ALL.map(|s| config.fraction(s));
    let total: f64 = fractions.iter().sum();
    if fractions.iter().any(|f| !f.is_finite() || *f < 0.0) || total <= 0.0 {
        return Err(SplitError::BadFractions {
            train: config.train,
            validation: config.validation,
            test: config.test,
        });
    }

    let mut images_of: BTreeMap<&PatientId, usize> = BTreeMap::new();
    for row in rows {
        *images_of.entry(&row.patient).or_default() += 1;
    }
    let mut patients: Vec<(&PatientId, usize)> = images_of.into_iter().collect();
    let mut rng = SplitMix64::new(config.seed);
    // Fisher–Yates.
    for i in (1..patients.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        patients.swap(i, j);
    }

    let train_end = fractions[0] / total;
    let validation_end = (fractions[0] + fractions[1]) / total;
    let image_count = rows.len().max(1) as f64;
    let mut side_of: HashMap<&PatientId, Split> = HashMap::with_capacity(patients.len());
    let mut summary = SplitSummary::default();
    let mut dealt = 0usize;
    for (patient, images) in patients {
        let middle = (dealt as f64 + images as f64 / 2.0) / image_count;
        let side = if middle < train_end {
            Split::Train
        } else if middle < validation_end {
            Split::Validation
        } else {
            Split::Test
        };
        dealt += images;
        side_of.insert(patient, side);
        let counts = summary.side_mut(side);
        counts.patients += 1;
        counts.images += images;
    }

    let sides = rows
        .iter()
        .map(|row| {
            *side_of
                .get(&row.patient)
                .expect("every row's patient was dealt a side above")
        })
        .collect();
    Ok(PatientSplit { sides, summary })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::data::labels::LabelTable;

    const NIH800_CSV: &str = include_str!("../../tests/fixtures/Data_Entry_nih800.csv");
    const NIH800_FILES: &str = include_str!("../../tests/fixtures/nih800_files.txt");

    fn nih800() -> LabelTable {
        LabelTable::parse_nih("Data_Entry_nih800.csv", NIH800_CSV).expect("parses")
    }

    fn assert_no_patient_on_two_sides(rows: &[LabelRow], split: &PatientSplit) {
        let mut side_of: HashMap<&PatientId, Split> = HashMap::new();
        for (row, side) in rows.iter().zip(split.sides()) {
            let first = *side_of.entry(&row.patient).or_insert(*side);
            assert_eq!(first, *side, "patient {} on two sides", row.patient);
        }
    }

    #[test]
    fn nih800_split_keeps_patients_together_and_respects_fractions() {
        let table = nih800();
        let split = split_by_patient(table.rows(), &SplitConfig::default()).expect("splits");
        assert_eq!(split.sides().len(), 800);
        assert_no_patient_on_two_sides(table.rows(), &split);
        let summary = split.summary();
        let sides = Split::ALL.map(|s| summary.side(s));
        assert_eq!(sides.iter().map(|s| s.images).sum::<usize>(), 800);
        assert_eq!(sides.iter().map(|s| s.patients).sum::<usize>(), 221);
        for (side, wanted) in sides.iter().zip([0.7, 0.1, 0.2]) {
            let got = side.images as f64 / 800.0;
            assert!(
                (got - wanted).abs() < 0.05,
                "{got} vs {wanted}: {summary:?}"
            );
        }
        assert_eq!(
            split.rows(Split::Validation).count(),
            summary.validation.images
        );
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let table = nih800();
        let config = SplitConfig::default().with_seed(7);
        let a = split_by_patient(table.rows(), &config).expect("splits");
        let b = split_by_patient(table.rows(), &config).expect("splits");
        assert_eq!(a, b);
        let c = split_by_patient(table.rows(), &config.with_seed(8)).expect("splits");
        assert_ne!(a.sides(), c.sides());
        assert_no_patient_on_two_sides(table.rows(), &c);
    }

    #[test]
    fn row_order_does_not_matter() {
        let table = nih800();
        let mut reversed = table.rows().to_vec();
        reversed.reverse();
        let config = SplitConfig::default();
        let forward = split_by_patient(table.rows(), &config).expect("splits");
        let backward = split_by_patient(&reversed, &config).expect("splits");
        let mut back_sides = backward.sides().to_vec();
        back_sides.reverse();
        assert_eq!(forward.sides(), back_sides);
    }

    #[test]
    fn folder_set_without_patient_ids_splits_each_file_alone() {
        let paths: Vec<String> = (0..100).map(|i| format!("normal/img{i}.png")).collect();
        let table = LabelTable::from_folders("folder", &paths);
        let split = split_by_patient(table.rows(), &SplitConfig::default()).expect("splits");
        let summary = split.summary();
        assert_eq!(
            (summary.train, summary.validation, summary.test),
            (
                SideSummary {
                    patients: 70,
                    images: 70
                },
                SideSummary {
                    patients: 10,
                    images: 10
                },
                SideSummary {
                    patients: 20,
                    images: 20
                }
            )
        );
    }

    #[test]
    fn nih800_folders_resplit_by_patient() {
        let paths: Vec<&str> = NIH800_FILES.lines().collect();
        let table = LabelTable::from_folders("nih800", &paths);
        let split = split_by_patient(table.rows(), &SplitConfig::default()).expect("splits");
        assert_no_patient_on_two_sides(table.rows(), &split);
        let patients: HashSet<&PatientId> = table.rows().iter().map(|r| &r.patient).collect();
        assert_eq!(patients.len(), 221);
    }

    #[test]
    fn fractions_are_normalised_and_checked() {
        let table = nih800();
        let halves = SplitConfig {
            seed: 1,
            train: 1.0,
            validation: 0.0,
            test: 1.0,
        };
        let split = split_by_patient(table.rows(), &halves).expect("splits");
        assert_eq!(split.summary().validation, SideSummary::default());
        assert!((split.summary().train.images as f64 / 800.0 - 0.5).abs() < 0.05);
        let bad = SplitConfig {
            train: -0.1,
            ..SplitConfig::default()
        };
        let error = split_by_patient(table.rows(), &bad).expect_err("negative");
        assert!(error.to_string().contains("train -0.1"));
        let zero = SplitConfig {
            seed: 0,
            train: 0.0,
            validation: 0.0,
            test: 0.0,
        };
        assert!(split_by_patient(table.rows(), &zero).is_err());
        let nan = SplitConfig {
            test: f64::NAN,
            ..SplitConfig::default()
        };
        assert!(split_by_patient(table.rows(), &nan).is_err());
    }
}
