//! Class frequencies per side of the split: how many images show each finding.
//!
//! ChestX-ray14 is heavily imbalanced (Hernia is ~0.2 % of images, `No Finding` over half), and
//! the page shows it as a chart and a table before training, per side, so a user can see that a
//! rare finding has too few test positives for a meaningful AUC. Plain data: counts only, no
//! drawing; the UI draws them, and the loss may use them for class weights.

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::labels::{LabelRow, LabelTable};
use super::split::{PatientSplit, Split};

/// The labels of one finding over a set of images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    /// Which finding.
    pub finding: Finding,
    /// Images where it is present.
    pub positives: usize,
    /// Images where it is absent.
    pub negatives: usize,
    /// Images whose labels do not say (CheXpert blanks, `abnormal` folders).
    pub unknown: usize,
}

impl ClassCount {
    /// Positives among the images whose label is known, in `0..=1`; 0 when none is known.
    #[must_use]
    pub fn prevalence(&self) -> f64 {
        let known = self.positives + self.negatives;
        if known == 0 {
            0.0
        } else {
            self.positives as f64 / known as f64
        }
    }
}

/// Counts over one set of images (one side of the split, or all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frequencies {
    /// Images counted.
    pub images: usize,
    /// Images labelled normal (NIH `No Finding`, a `normal` folder, CheXpert `No Finding` 1.0).
    pub no_finding: usize,
    /// Images labelled abnormal (any finding present, or an `abnormal` folder).
    pub abnormal: usize,
    /// One count per finding, in NIH order (`classes[f.index()]` is `f`).
    pub classes: Vec<ClassCount>,
}

impl Frequencies {
    /// Counts the given rows.
    pub fn count<'a>(rows: impl IntoIterator<Item = &'a LabelRow>) -> Self {
        let mut counts = Frequencies {
            images: 0,
            no_finding: 0,
            abnormal: 0,
            classes: Finding::ALL
                .iter()
                .map(|f| ClassCount {
                    finding: *f,
                    positives: 0,
                    negatives: 0,
                    unknown: 0,
                })
                .collect(),
        };
        for row in rows {
            counts.images += 1;
            match row.is_abnormal() {
                Some(false) => counts.no_finding += 1,
                Some(true) => counts.abnormal += 1,
                None => {}
            }
            for class in &mut counts.classes {
                match row.targets.get(class.finding) {
                    Some(true) => class.positives += 1,
                    Some(false) => class.negatives += 1,
                    None => class.unknown += 1,
                }
            }
        }
        counts
    }

    /// The count of one finding.
    #[must_use]
    pub fn class(&self, finding: Finding) -> &ClassCount {
        &self.classes[finding.index()]
    }

    /// Images where `finding` is present.
    #[must_use]
    pub fn positives(&self, finding: Finding) -> usize {
        self.class(finding).positives
    }
}

/// Counts on each side of a split, and over all images.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFrequencies {
    /// The training side.
    pub train: Frequencies,
    /// The validation side.
    pub validation: Frequencies,
    /// The test side.
    pub test: Frequencies,
    /// All images of the table.
    pub all: Frequencies,
}

impl SplitFrequencies {
    /// One side's counts.
    #[must_use]
    pub const fn side(&self, split: Split) -> &Frequencies {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }
}

/// Counts positives per finding, `No Finding` and images on each side of `split`, which must
/// have been made from `table`'s rows (rows past the end of `split` count only in `all`).
#[must_use]
pub fn class_frequencies(table: &LabelTable, split: &PatientSplit) -> SplitFrequencies {
    let rows = table.rows();
    let on = |side: Split| Frequencies::count(split.rows(side).filter_map(|i| rows.get(i)));
    SplitFrequencies {
        train: on(Split::Train),
        validation: on(Split::Validation),
        test: on(Split::Test),
        all: Frequencies::count(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::labels::UncertainPolicy;
    use crate::data::split::{SplitConfig, split_by_patient};

    const NIH_V2020: &str = include_str!("../../tests/fixtures/nih_v2020_excerpt.csv");
    const NIH800_CSV: &str = include_str!("../../tests/fixtures/Data_Entry_nih800.csv");
    const CHEXPERT: &str = include_str!("../../tests/fixtures/chexpert_excerpt.csv");

    fn positives(f: &Frequencies) -> Vec<usize> {
        f.classes.iter().map(|c| c.positives).collect()
    }

    #[test]
    fn nih_excerpt_counts() {
        // Counted from the `Finding Labels` column of the 60 rows (with `cut | tr '|' '\n' |
        // sort | uniq -c`).
        let table = LabelTable::parse_nih("v2020.csv", NIH_V2020).expect("parses");
        let f = Frequencies::count(table.rows());
        assert_eq!((f.images, f.no_finding, f.abnormal), (60, 16, 44));
        // NIH order: Atelectasis, Cardiomegaly, Effusion, Infiltration, Mass, Nodule, Pneumonia,
        // Pneumothorax, Consolidation, Edema, Emphysema, Fibrosis, Pleural_Thickening, Hernia.
        assert_eq!(
            positives(&f),
            [3, 12, 7, 9, 13, 3, 0, 10, 0, 0, 14, 0, 1, 8]
        );
        assert!(
            f.classes
                .iter()
                .all(|c| c.unknown == 0 && c.positives + c.negatives == 60)
        );
        assert!((f.class(Finding::Hernia).prevalence() - 8.0 / 60.0).abs() < 1e-12);
    }

    #[test]
    fn nih800_counts_per_side_add_up() {
        let table = LabelTable::parse_nih("Data_Entry_nih800.csv", NIH800_CSV).expect("parses");
        let split = split_by_patient(table.rows(), &SplitConfig::default()).expect("splits");
        let freq = class_frequencies(&table, &split);
        // Counted from the CSV's `Finding Labels` column.
        assert_eq!((freq.all.images, freq.all.no_finding), (800, 399));
        assert_eq!(
            positives(&freq.all),
            [77, 65, 141, 119, 34, 29, 9, 40, 28, 25, 37, 21, 22, 9]
        );
        for side in Split::ALL {
            assert_eq!(freq.side(side).images, split.summary().side(side).images);
        }
        let sum = |get: &dyn Fn(&Frequencies) -> usize| {
            Split::ALL.iter().map(|s| get(freq.side(*s))).sum::<usize>()
        };
        assert_eq!(sum(&|f| f.no_finding), 399);
        for finding in Finding::ALL {
            assert_eq!(sum(&|f| f.positives(finding)), freq.all.positives(finding));
        }
    }

    #[test]
    fn chexpert_unknowns_are_counted_apart() {
        let table = LabelTable::parse_chexpert("train.csv", CHEXPERT, UncertainPolicy::Ignore)
            .expect("parses");
        let f = Frequencies::count(table.rows());
        assert_eq!(f.images, 40);
        // `No Finding` is 1.0 on 8 of the 40 rows.
        assert_eq!(f.no_finding, 8);
        // Findings CheXpert does not label are unknown on every row.
        assert_eq!(f.class(Finding::Hernia).unknown, 40);
        // Pneumothorax 1.0 on 7 rows; Pleural Effusion 1.0 on 9.
        assert_eq!(f.positives(Finding::Pneumothorax), 7);
        assert_eq!(f.positives(Finding::Effusion), 9);
    }
}
