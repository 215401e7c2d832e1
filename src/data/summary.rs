//! [`DatasetSummary`]: what the page shows about a loaded data set, as plain serde data.
//!
//! The compute worker owns the [`Dataset`] (the images stay there); the page only gets this
//! summary: counts, the patient split per side, the class frequencies per side and one line per
//! [`DataIssue`]. [`DataIssue`] itself holds `&'static str`s and is not serde, so each becomes an
//! [`IssueLine`] (its message and its file, if any).
//!
//! The split is made over the *labelled images* (the label rows that joined an image), not over
//! the whole label file: loading part of NIH's 112,120 rows must not put phantom patients on a
//! side. "No patient is on two sides" is checked here, from the split itself, rather than taken
//! on trust from `split_by_patient`: [`DatasetSummary::patients_on_two_sides`] is what the page
//! reports.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::frequency::{Frequencies, SplitFrequencies};
use super::ingest::{DataIssue, Dataset};
use super::labels::{LabelFormat, LabelRow, PatientId};
use super::options::{FindingSet, LabelOptions};
use super::split::{PatientSplit, Split, SplitConfig, SplitSummary, split_by_patient};

/// One line of "Issues with your data".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueLine {
    /// The message, for the user.
    pub text: String,
    /// The file it is about, when it is about one file.
    pub path: Option<String>,
}

impl From<&DataIssue> for IssueLine {
    /// One line whatever the file held: a quoted CSV field may span lines (found by fuzzing),
    /// and a message quoting it would break the list; line breaks and other control characters
    /// are shown as `⏎` and spaces.
    fn from(issue: &DataIssue) -> Self {
        let text = issue
            .to_string()
            .chars()
            .map(|c| match c {
                '\n' => '⏎',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        IssueLine {
            text,
            path: issue.path().map(str::to_owned),
        }
    }
}

/// The split of the labelled images and what landed on each side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitView {
    /// Patients and images per side.
    pub sides: SplitSummary,
    /// Patients found with images on more than one side; 0 unless the split is broken. Counted
    /// from the split, not assumed.
    pub patients_on_two_sides: usize,
    /// Class frequencies per side (and over all labelled images).
    pub frequencies: SplitFrequencies,
}

/// Everything the page shows about a loaded data set; see the module doc.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Images decoded into the store.
    pub images: usize,
    /// Images joined to a label row (the ones that can be trained on).
    pub labelled: usize,
    /// Working resolution: every image is stored `side`×`side`.
    pub side: u32,
    /// Bytes held by the image store in the worker.
    pub memory_bytes: usize,
    /// The label source (a CSV's path, or `folders`), if any.
    pub label_file: Option<String>,
    /// The kind of labels.
    pub label_format: Option<LabelFormat>,
    /// Clutter ignored silently (`.DS_Store`, …).
    pub ignored: usize,
    /// The split settings used.
    pub split_config: SplitConfig,
    /// The label choices applied: uncertain labels as read, and the findings trained on.
    pub label_options: LabelOptions,
    /// The split, or why there is none (bad fractions, no labelled image).
    pub split: Result<SplitView, String>,
    /// One line per issue, in the order found.
    pub issues: Vec<IssueLine>,
    /// Loading was cancelled: the summary covers the files read until then.
    pub cancelled: bool,
}

impl DatasetSummary {
    /// Summarises `dataset` with its labelled images split by `config`; `findings` are the
    /// findings the user trains on (the uncertain policy is the dataset's own).
    #[must_use]
    pub fn new(
        dataset: &Dataset,
        config: &SplitConfig,
        findings: FindingSet,
        cancelled: bool,
    ) -> Self {
        let rows: Vec<LabelRow> = dataset.labelled().map(|(_, row)| row.clone()).collect();
        DatasetSummary {
            images: dataset.store.len(),
            labelled: rows.len(),
            side: dataset.store.side(),
            memory_bytes: dataset.store.memory_bytes(),
            label_file: dataset.labels.as_ref().map(|t| t.file().to_owned()),
            label_format: dataset.labels.as_ref().map(|t| t.format()),
            ignored: dataset.ignored.len(),
            split_config: *config,
            label_options: LabelOptions {
                uncertain: dataset.uncertain_policy(),
                findings,
            },
            split: split_view(&rows, config),
            issues: dataset.issues.iter().map(IssueLine::from).collect(),
            cancelled,
        }
    }

    /// The summary's split view, if the split could be made.
    #[must_use]
    pub fn split_view(&self) -> Option<&SplitView> {
        self.split.as_ref().ok()
    }
}

/// Splits `rows` by patient and counts each side; an error message when it cannot be done.
fn split_view(rows: &[LabelRow], config: &SplitConfig) -> Result<SplitView, String> {
    if rows.is_empty() {
        return Err("no labelled images to split".to_owned());
    }
    let split = split_by_patient(rows, config).map_err(|e| e.to_string())?;
    let on = |side: Split| Frequencies::count(split.rows(side).filter_map(|i| rows.get(i)));
    Ok(SplitView {
        sides: *split.summary(),
        patients_on_two_sides: patients_on_two_sides(rows, &split),
        frequencies: SplitFrequencies {
            train: on(Split::Train),
            validation: on(Split::Validation),
            test: on(Split::Test),
            all: Frequencies::count(rows),
        },
    })
}

/// How many patients have rows on more than one side of `split` (rows without a side count
/// as a side of their own, so a short split is caught too).
#[must_use]
pub fn patients_on_two_sides(rows: &[LabelRow], split: &PatientSplit) -> usize {
    let mut first_side: HashMap<&PatientId, Option<Split>> = HashMap::new();
    let mut leaking: HashSet<&PatientId> = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let side = split.side(i);
        match first_side.get(&row.patient) {
            None => {
                first_side.insert(&row.patient, side);
            }
            Some(first) if *first != side => {
                leaking.insert(&row.patient);
            }
            Some(_) => {}
        }
    }
    leaking.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ingest::Ingest;
    use crate::data::split::split_by_patient;

    const NIH800_CSV: &str = include_str!("../../tests/fixtures/Data_Entry_nih800.csv");
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");

    /// The fixture images as `(class/name, bytes)`, sorted.
    fn fixture_images() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for class in ["0_normal", "1_abnormal"] {
            for entry in std::fs::read_dir(format!("{FIXTURES}/{class}")).expect("fixture") {
                let path = entry.expect("fixture").path();
                let name = path
                    .file_name()
                    .expect("fixture")
                    .to_str()
                    .expect("fixture")
                    .to_owned();
                out.push((
                    format!("{class}/{name}"),
                    std::fs::read(&path).expect("fixture"),
                ));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn an_issue_quoting_a_multi_line_field_is_one_line() {
        // A header whose quoted field spans two lines, and no NIH or CheXpert columns.
        let csv = "\"Image\nIndex\",Labels\nx.png,Effusion\n";
        let mut ingest = Ingest::new(8);
        ingest.add_file("labels.csv", csv.as_bytes());
        let dataset = ingest.finish();
        let lines: Vec<IssueLine> = dataset.issues.iter().map(IssueLine::from).collect();
        let missing = lines
            .iter()
            .find(|l| l.text.contains("missing column"))
            .expect("the missing columns are reported");
        assert!(missing.text.contains("'Image⏎Index'"), "{}", missing.text);
        assert!(lines.iter().all(|l| !l.text.contains(['\n', '\r'])));
    }

    fn ingest(files: &[(String, Vec<u8>)]) -> Dataset {
        let mut ingest = Ingest::new(32);
        for (path, bytes) in files {
            ingest.add_file(path, bytes);
        }
        ingest.finish()
    }

    #[test]
    fn folder_set_with_bad_files_summarises_the_good_ones_and_lists_the_bad() {
        let mut files = fixture_images();
        let good = files.len();
        files.push(("1_abnormal/truncated.png".into(), files[0].1[..40].to_vec()));
        files.push((
            "1_abnormal/paper.png".into(),
            b"%PDF-1.4\n%\xe2\xe3".to_vec(),
        ));
        files.push(("notes.txt".into(), b"hello".to_vec()));
        let dataset = ingest(&files);
        let summary =
            DatasetSummary::new(&dataset, &SplitConfig::default(), FindingSet::ALL, false);
        assert_eq!(summary.images, good);
        assert_eq!(summary.side, 32);
        let mut paths: Vec<&str> = summary
            .issues
            .iter()
            .filter_map(|i| i.path.as_deref())
            .collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "1_abnormal/paper.png",
                "1_abnormal/truncated.png",
                "notes.txt"
            ]
        );
        let view = summary.split_view().expect("a split");
        assert_eq!(view.patients_on_two_sides, 0);
        let sides = view.sides;
        assert_eq!(
            sides.train.images + sides.validation.images + sides.test.images,
            summary.labelled
        );
        assert_eq!(view.frequencies.all.images, summary.labelled);
    }

    #[test]
    fn nih_rows_split_without_leakage_and_counts_agree() {
        let table = crate::data::LabelTable::parse_nih("Data_Entry_nih800.csv", NIH800_CSV)
            .expect("nih800 labels");
        let rows = table.rows().to_vec();
        let config = SplitConfig::default().with_seed(7);
        let view = split_view(&rows, &config).expect("a split");
        assert_eq!(view.patients_on_two_sides, 0);
        let s = view.sides;
        assert_eq!(
            s.train.images + s.validation.images + s.test.images,
            rows.len()
        );
        for side in Split::ALL {
            assert_eq!(view.frequencies.side(side).images, s.side(side).images);
        }
        assert!(s.train.images > s.test.images && s.test.images > s.validation.images);
        // Same seed, same split.
        assert_eq!(split_view(&rows, &config), Ok(view));
    }

    #[test]
    fn a_broken_split_is_caught() {
        let table = crate::data::LabelTable::parse_nih("Data_Entry_nih800.csv", NIH800_CSV)
            .expect("nih800 labels");
        let rows = table.rows().to_vec();
        let split = split_by_patient(&rows, &SplitConfig::default()).expect("split");
        // The same split applied to the rows in another order puts some patients on two sides.
        let mut shuffled = rows.clone();
        shuffled.reverse();
        assert!(patients_on_two_sides(&shuffled, &split) > 0);
        assert_eq!(patients_on_two_sides(&rows, &split), 0);
    }

    #[test]
    fn empty_and_bad_fractions_give_reasons() {
        let dataset = ingest(&[]);
        let summary = DatasetSummary::new(&dataset, &SplitConfig::default(), FindingSet::ALL, true);
        assert!(summary.cancelled);
        assert_eq!(summary.images, 0);
        assert!(summary.split.is_err());
        assert!(!summary.issues.is_empty());

        let dataset = ingest(&fixture_images());
        let bad = SplitConfig {
            train: -1.0,
            ..SplitConfig::default()
        };
        let summary = DatasetSummary::new(&dataset, &bad, FindingSet::ALL, false);
        assert!(
            summary
                .split
                .expect_err("bad fractions")
                .contains("fractions")
        );
    }
}
