//! Label files into one [`LabelTable`]: which findings each image shows, and whose image it is.
//!
//! Three sources are understood, each mapped onto the 14 NIH [`Finding`]s:
//! - NIH `Data_Entry_2017*.csv` ([`LabelTable::parse_nih`]): both the v2020 file, whose header
//!   `OriginalImage[Width,Height]` holds an unquoted comma (and so splits into as many fields as
//!   the rows), and the 2017 original, which ends every line with an empty column. Columns are
//!   found by header name, never by position.
//! - CheXpert `train.csv`/`valid.csv` ([`LabelTable::parse_chexpert`]), with a policy for its
//!   uncertain (`-1.0`) labels.
//! - A folder-per-class listing ([`LabelTable::from_folders`]), e.g. the `nih800` set's
//!   `{train,valid}/{0_normal,1_abnormal}/*.png`.
//!
//! As in ripgrep, a bad row is not fatal: it is recorded as a [`RowProblem`] naming the file and
//! line, skipped, and the rest is read. Only a file that cannot be a label file at all (no
//! header, missing columns, an unclosed quote) is a [`LabelError`].
//!
//! The image pipeline joins images to rows with [`LabelTable::lookup`] (by path, or by file
//! name); `split` groups rows by [`PatientId`]; `frequency` counts [`Targets`].

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::finding::{Finding, loose};
use super::split::Split;

/// Who an image belongs to. Images of one patient must stay on one side of the split.
///
/// For NIH it is the `Patient ID` column as written (`"1"`, not `"00000001"`); for CheXpert the
/// `patientNNNNN` folder of the path; for folder sets the patient number of NIH-style file names
/// (`00000001_000.png` → `"1"`), else the image's own path (each file its own patient).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PatientId(pub String);

impl PatientId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 14 findings of one image, each positive, negative or unknown.
///
/// Two bit masks indexed by [`Finding::index`]: `known` says which findings the labels speak
/// about; `positive` (always inside `known`) which of those are present. Unknown comes from
/// CheXpert blanks and ignored uncertain labels, and from folders that only say "abnormal".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Targets {
    known: u16,
    positive: u16,
}

impl Targets {
    /// Nothing known.
    pub const UNKNOWN: Targets = Targets {
        known: 0,
        positive: 0,
    };
    /// All 14 known and negative: NIH's `No Finding`.
    pub const ALL_NEGATIVE: Targets = Targets {
        known: (1 << Finding::COUNT) - 1,
        positive: 0,
    };

    /// `Some(true)` if present, `Some(false)` if absent, `None` if the labels do not say.
    #[must_use]
    pub const fn get(self, finding: Finding) -> Option<bool> {
        let bit = 1 << finding.index();
        if self.known & bit == 0 {
            None
        } else {
            Some(self.positive & bit != 0)
        }
    }

    /// Sets one finding to present, absent or unknown.
    pub fn set(&mut self, finding: Finding, value: Option<bool>) {
        let bit = 1 << finding.index();
        match value {
            None => {
                self.known &= !bit;
                self.positive &= !bit;
            }
            Some(present) => {
                self.known |= bit;
                if present {
                    self.positive |= bit;
                } else {
                    self.positive &= !bit;
                }
            }
        }
    }

    /// A copy with one finding set; for building targets in one expression.
    #[must_use]
    pub fn with(mut self, finding: Finding, value: Option<bool>) -> Self {
        self.set(finding, value);
        self
    }

    /// The present findings, in NIH order.
    pub fn positives(self) -> impl Iterator<Item = Finding> {
        Finding::ALL
            .into_iter()
            .filter(move |f| self.get(*f) == Some(true))
    }

    /// Whether any finding is present.
    #[must_use]
    pub const fn any_positive(self) -> bool {
        self.positive != 0
    }

    /// Whether all 14 findings are known.
    #[must_use]
    pub const fn all_known(self) -> bool {
        self.known == Targets::ALL_NEGATIVE.known
    }
}

/// One labelled image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRow {
    /// The join key with the image files: NIH's `Image Index` (a file name), CheXpert's `Path`,
    /// or the listed relative path for folder sets. [`LabelTable::lookup`] also matches by the
    /// file name part.
    pub image: String,
    /// Whose image it is; the split keeps a patient on one side.
    pub patient: PatientId,
    /// The 14 findings.
    pub targets: Targets,
    /// An explicit normal/abnormal label, where the source gives one: NIH (`No Finding` or not),
    /// CheXpert (`No Finding` 1.0, or any observation present) and folders named
    /// `normal`/`abnormal`. Folder sets such as `nih800` only have this, not the 14 findings.
    pub abnormal: Option<bool>,
    /// The side a folder set already put the image on (`train/`, `valid/`, `test/`). Kept for
    /// information: such splits are often by image, not by patient (see `split`).
    pub given_split: Option<Split>,
}

impl LabelRow {
    /// The file name part of [`LabelRow::image`].
    #[must_use]
    pub fn file_name(&self) -> &str {
        file_name(&self.image)
    }

    /// The binarised multi-label target for the chosen findings, in the given order: 1.0 if
    /// present, 0.0 if absent *or unknown* (use [`LabelRow::target_mask`] to leave unknowns out
    /// of the loss). Leaving findings out of `findings` trains on fewer classes.
    #[must_use]
    pub fn target(&self, findings: &[Finding]) -> Vec<f32> {
        findings
            .iter()
            .map(|f| {
                if self.targets.get(*f) == Some(true) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// 1.0 where [`LabelRow::target`] is a real label, 0.0 where it is unknown.
    #[must_use]
    pub fn target_mask(&self, findings: &[Finding]) -> Vec<f32> {
        findings
            .iter()
            .map(|f| {
                if self.targets.get(*f).is_some() {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Whether the image shows anything: `Some(true)` if a finding is present or the source says
    /// abnormal, `Some(false)` if the source says normal (`No Finding`, a `normal` folder) or all
    /// 14 findings are known negative, `None` if the labels do not say.
    #[must_use]
    pub fn is_abnormal(&self) -> Option<bool> {
        if self.targets.any_positive() || self.abnormal == Some(true) {
            Some(true)
        } else if self.abnormal == Some(false) || self.targets.all_known() {
            Some(false)
        } else {
            None
        }
    }
}

/// Which kind of file a [`LabelTable`] was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LabelFormat {
    /// NIH ChestX-ray14 `Data_Entry_2017.csv` (2017 original or v2020).
    NihDataEntry,
    /// CheXpert `train.csv` / `valid.csv`.
    CheXpert,
    /// A folder-per-class listing of image paths.
    Folders,
}

impl fmt::Display for LabelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelFormat::NihDataEntry => "NIH Data_Entry_2017",
            LabelFormat::CheXpert => "CheXpert",
            LabelFormat::Folders => "folder-per-class",
        })
    }
}

/// What to do with CheXpert's uncertain labels (`-1.0`); the names in the CheXpert paper
/// (Irvin et al., 2019) are U-Ignore, U-Zeros and U-Ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UncertainPolicy {
    /// U-Ignore (the default): uncertain is unknown, masked out of the loss.
    #[default]
    Ignore,
    /// U-Zeros: uncertain counts as absent.
    Negative,
    /// U-Ones: uncertain counts as present.
    Positive,
}

impl UncertainPolicy {
    const fn resolve(self) -> Option<bool> {
        match self {
            UncertainPolicy::Ignore => None,
            UncertainPolicy::Negative => Some(false),
            UncertainPolicy::Positive => Some(true),
        }
    }
}

/// The CheXpert observations that are NIH findings, and the finding each maps to.
///
/// CheXpert's other observations have no NIH counterpart: `Enlarged Cardiomediastinum`,
/// `Lung Opacity`, `Lung Lesion` (it lumps NIH's Mass and Nodule), `Pleural Other`, `Fracture`
/// and `Support Devices` (see [`CHEXPERT_UNMAPPED`]). NIH's Infiltration, Mass, Nodule,
/// Emphysema, Fibrosis, Pleural_Thickening and Hernia stay unknown for CheXpert images.
pub const CHEXPERT_TO_NIH: [(&str, Finding); 7] = [
    ("Atelectasis", Finding::Atelectasis),
    ("Cardiomegaly", Finding::Cardiomegaly),
    ("Consolidation", Finding::Consolidation),
    ("Edema", Finding::Edema),
    ("Pleural Effusion", Finding::Effusion),
    ("Pneumonia", Finding::Pneumonia),
    ("Pneumothorax", Finding::Pneumothorax),
];

/// CheXpert observations without an NIH finding. All but `Support Devices` still count towards
/// [`LabelRow::abnormal`].
pub const CHEXPERT_UNMAPPED: [&str; 6] = [
    "Enlarged Cardiomediastinum",
    "Lung Opacity",
    "Lung Lesion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
];

/// Where in a label source a [`RowProblem`] is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    /// A 1-based line of a CSV file (the header is line 1), where the record starts.
    Line(usize),
    /// A path of a folder listing.
    Path(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Path(path) => write!(f, "'{path}'"),
        }
    }
}

/// A row that was skipped, and why. Soft failures: the table holds the rest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file} {at}: {kind}")]
pub struct RowProblem {
    /// The label file (or folder) the row came from.
    pub file: String,
    /// The line or path.
    pub at: Location,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong with one row; each message suggests a fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The row has a different number of fields than the header.
    #[error(
        "{found} fields where the header has {expected}; a field holding a comma must be quoted"
    )]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A needed value is empty.
    #[error("'{column}' is empty; fill it in or delete the row")]
    Missing {
        /// The column.
        column: String,
    },
    /// A name in `Finding Labels` is not one of the 14 findings.
    #[error(
        "unknown finding '{name}'; expected one of {}, or 'No Finding' alone",
        Finding::expected_names()
    )]
    UnknownFinding {
        /// The unknown name.
        name: String,
    },
    /// `No Finding` together with findings.
    #[error("'No Finding' together with findings ('{labels}'); keep one or the other")]
    NoFindingWithFindings {
        /// The whole `Finding Labels` value.
        labels: String,
    },
    /// The same image twice.
    #[error("image '{image}' already labelled on {first}; delete one of the rows")]
    Duplicate {
        /// The image key.
        image: String,
        /// Where it was first seen.
        first: Location,
    },
    /// A CheXpert value that is not 1.0, 0.0, -1.0 or blank.
    #[error("'{column}' is '{value}'; expected 1.0, 0.0, -1.0 (uncertain) or blank")]
    BadValue {
        /// The column.
        column: String,
        /// The value found.
        value: String,
    },
    /// A CheXpert path without a `patientNNNNN` folder.
    #[error(
        "no 'patientNNNNN' folder in path '{path}', so the patient is unknown; keep CheXpert's paths as they are"
    )]
    NoPatient {
        /// The path.
        path: String,
    },
    /// A listed image with no folder that names a label.
    #[error(
        "no folder names a label; put the image under a folder named after a finding ({}), or 'normal' / 'abnormal' (also '0_normal', '1_abnormal', 'No Finding')",
        Finding::expected_names()
    )]
    NoLabelFolder,
}

/// A file that cannot be read as labels at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// No header line.
    #[error(
        "{file}: the file is empty; expected a CSV whose first line is a header such as '{hint}'"
    )]
    Empty {
        /// The file.
        file: String,
        /// The start of a header of the expected format.
        hint: &'static str,
    },
    /// Needed columns are not in the header.
    #[error(
        "{file}: missing column(s) {} for a {format} file; found {}. Check that this is a {format} label file and that its first line is the header",
        quoted(.missing),
        quoted(.found)
    )]
    MissingColumns {
        /// The file.
        file: String,
        /// The format it was read as.
        format: LabelFormat,
        /// The needed columns that are missing.
        missing: Vec<String>,
        /// The columns of the header.
        found: Vec<String>,
    },
    /// A quoted field that never closes; everything after it would be one field.
    #[error(
        "{file} line {line}: a quoted field is never closed; remove the stray '\"' or close the quote"
    )]
    UnclosedQuote {
        /// The file.
        file: String,
        /// The line where the record starts.
        line: usize,
    },
}

/// An image that could not be joined to a row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No row has this file name.
    #[error(
        "'{path}': no row of {file} has this image; check that the label file belongs to these images"
    )]
    NotFound {
        /// The label file.
        file: String,
        /// The image path looked up.
        path: String,
    },
    /// Several rows match equally well (CheXpert file names repeat: `view1_frontal.jpg`).
    #[error(
        "'{path}' matches {count} rows of {file}; give more of the path, e.g. 'patient00001/study1/view1_frontal.jpg'"
    )]
    Ambiguous {
        /// The label file.
        file: String,
        /// The image path looked up.
        path: String,
        /// How many rows match.
        count: usize,
    },
}

/// Labelled images from one source, and the rows that were skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelTable {
    file: String,
    format: LabelFormat,
    rows: Vec<LabelRow>,
    problems: Vec<RowProblem>,
    /// Row indices by file name, for [`LabelTable::lookup`].
    by_file_name: HashMap<String, Vec<usize>>,
}

const NIH_HINT: &str = "Image Index,Finding Labels,Follow-up #,Patient ID,…";
const CHEXPERT_HINT: &str = "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,…";

impl LabelTable {
    /// Builds a table from rows already made; `file` names the source in messages.
    #[must_use]
    pub fn from_rows(
        file: &str,
        format: LabelFormat,
        rows: Vec<LabelRow>,
        problems: Vec<RowProblem>,
    ) -> Self {
        let mut by_file_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            by_file_name
                .entry(row.file_name().to_owned())
                .or_default()
                .push(i);
        }
        LabelTable {
            file: file.to_owned(),
            format,
            rows,
            problems,
            by_file_name,
        }
    }

    /// Reads a CSV, telling NIH (an `Image Index` column) from CheXpert (a `Path` column) by its
    /// header. `policy` only matters for CheXpert.
    ///
    /// # Errors
    /// As [`LabelTable::parse_nih`] and [`LabelTable::parse_chexpert`].
    pub fn parse_csv(file: &str, text: &str, policy: UncertainPolicy) -> Result<Self, LabelError> {
        let mut records = CsvRecords::new(text);
        let header = match records.next() {
            Some(Ok(record)) => record.fields,
            _ => Vec::new(),
        };
        if column(&header, "Path").is_some() && column(&header, "Image Index").is_none() {
            Self::parse_chexpert(file, text, policy)
        } else {
            Self::parse_nih(file, text)
        }
    }

    /// Reads an NIH `Data_Entry_2017` CSV (the v2020 file or the 2017 original): `Image Index`,
    /// `Finding Labels` (pipe-separated; `No Finding` means all 14 negative) and `Patient ID`.
    /// `file` names the source in messages.
    ///
    /// # Errors
    /// [`LabelError`] if the file is empty, lacks one of the three columns, or has an unclosed
    /// quote. Bad rows are not errors: they land in [`LabelTable::problems`].
    pub fn parse_nih(file: &str, text: &str) -> Result<Self, LabelError> {
        let (header, records) = read_header(file, text, NIH_HINT)?;
        let [image_col, labels_col, patient_col] = find_columns(
            file,
            LabelFormat::NihDataEntry,
            &header,
            ["Image Index", "Finding Labels", "Patient ID"],
        )?;
        parse_rows(
            file,
            LabelFormat::NihDataEntry,
            &header,
            records,
            |record| {
                let image = required(record, image_col, &header)?;
                let patient = required(record, patient_col, &header)?;
                let labels = required(record, labels_col, &header)?;
                let targets = nih_targets(labels)?;
                Ok(LabelRow {
                    image: image.to_owned(),
                    patient: PatientId(patient.to_owned()),
                    targets,
                    abnormal: Some(targets.any_positive()),
                    given_split: None,
                })
            },
        )
    }

    /// Reads a CheXpert CSV: `Path`, and the observations as 1.0 (present), 0.0 (absent), -1.0
    /// (uncertain, resolved by `policy`) or blank (not mentioned). Only the observations in
    /// [`CHEXPERT_TO_NIH`] become findings; the patient is the `patientNNNNN` folder of the path.
    ///
    /// A blank counts as absent when `No Finding` is 1.0 (the report mentions nothing), and as
    /// unknown otherwise.
    ///
    /// # Errors
    /// [`LabelError`] if the file is empty, lacks `Path` or one of the seven mapped observations,
    /// or has an unclosed quote. Bad rows land in [`LabelTable::problems`].
    pub fn parse_chexpert(
        file: &str,
        text: &str,
        policy: UncertainPolicy,
    ) -> Result<Self, LabelError> {
        let (header, records) = read_header(file, text, CHEXPERT_HINT)?;
        let [path_col] = find_columns(file, LabelFormat::CheXpert, &header, ["Path"])?;
        let mapped_names = CHEXPERT_TO_NIH.map(|(name, _)| name);
        let mapped_cols = find_columns(file, LabelFormat::CheXpert, &header, mapped_names)?;
        let no_finding_col = column(&header, "No Finding");
        // Observations that make an image abnormal: all but `No Finding` and `Support Devices`.
        let abnormal_cols: Vec<usize> = mapped_names
            .iter()
            .chain(
                CHEXPERT_UNMAPPED
                    .iter()
                    .filter(|n| **n != "Support Devices"),
            )
            .filter_map(|name| column(&header, name))
            .collect();

        parse_rows(file, LabelFormat::CheXpert, &header, records, |record| {
            let path = required(record, path_col, &header)?;
            let patient = chexpert_patient(path).ok_or_else(|| ProblemKind::NoPatient {
                path: path.to_owned(),
            })?;
            let no_finding = match no_finding_col {
                Some(col) => chexpert_value(record, col, &header)? == Observation::Present,
                None => false,
            };
            let mut any_present = false;
            for col in &abnormal_cols {
                let value = chexpert_value(record, *col, &header)?;
                any_present |= value == Observation::Present
                    || (value == Observation::Uncertain && policy == UncertainPolicy::Positive);
            }
            let mut targets = Targets::UNKNOWN;
            for (col, (_, finding)) in mapped_cols.iter().zip(CHEXPERT_TO_NIH) {
                let value = match chexpert_value(record, *col, &header)? {
                    Observation::Present => Some(true),
                    Observation::Absent => Some(false),
                    Observation::Uncertain => policy.resolve(),
                    Observation::Blank => (no_finding && !any_present).then_some(false),
                };
                targets.set(finding, value);
            }
            let abnormal = if any_present {
                Some(true)
            } else if no_finding {
                Some(false)
            } else {
                None
            };
            Ok(LabelRow {
                image: path.to_owned(),
                patient,
                targets,
                abnormal,
                given_split: None,
            })
        })
    }

    /// Labels from a folder-per-class listing of relative image paths, such as
    /// `train/1_abnormal/00000001_000.png` or `Effusion/x.png`. `file` names the folder in
    /// messages.
    ///
    /// The folder nearest the file that names a label wins:
    /// - a finding (`Effusion`, `pleural thickening`; any case): that finding present, the other
    ///   13 absent (folder-per-class means one class per image);
    /// - `normal`, `No Finding` or `0_normal`: all 14 absent, [`LabelRow::abnormal`] false;
    /// - `abnormal` or `1_abnormal`: [`LabelRow::abnormal`] true, the 14 findings unknown.
    ///
    /// A leading number and `_` (`0_`, `1_`) is ignored. Folders named `train`, `valid`/`val`/
    /// `validation` or `test` set [`LabelRow::given_split`]; other folders are ignored. The
    /// patient is the number in NIH-style file names (`00000013_005.png` → `"13"`, matching NIH's
    /// `Patient ID`), else the path itself: each file is then its own patient. A path with no
    /// label folder is a [`RowProblem`].
    #[must_use]
    pub fn from_folders<S: AsRef<str>>(file: &str, paths: &[S]) -> Self {
        let mut builder = Builder::new(file);
        for path in paths {
            let path = normalise_path(path.as_ref());
            if path.is_empty() {
                continue;
            }
            let at = Location::Path(path.clone());
            let mut parts: Vec<&str> = path.split('/').collect();
            let name = parts.pop().unwrap_or_default();
            let mut label = None;
            let mut given_split = None;
            for folder in parts.iter().rev() {
                match classify_folder(folder) {
                    FolderKind::Label(l) if label.is_none() => label = Some(l),
                    FolderKind::Split(s) if given_split.is_none() => given_split = Some(s),
                    _ => {}
                }
            }
            let parsed = match label {
                None => Err(ProblemKind::NoLabelFolder),
                Some(label) => {
                    let (targets, abnormal) = match label {
                        FolderLabel::Finding(f) => {
                            (Targets::ALL_NEGATIVE.with(f, Some(true)), Some(true))
                        }
                        FolderLabel::Normal => (Targets::ALL_NEGATIVE, Some(false)),
                        FolderLabel::Abnormal => (Targets::UNKNOWN, Some(true)),
                    };
                    let patient = nih_patient(name).unwrap_or_else(|| PatientId(path.clone()));
                    Ok(LabelRow {
                        image: path.clone(),
                        patient,
                        targets,
                        abnormal,
                        given_split,
                    })
                }
            };
            builder.push(at, parsed);
        }
        builder.finish(LabelFormat::Folders)
    }

    /// The source's name, as given to the parser.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The kind of source.
    #[must_use]
    pub const fn format(&self) -> LabelFormat {
        self.format
    }

    /// The labelled images, in file order.
    #[must_use]
    pub fn rows(&self) -> &[LabelRow] {
        &self.rows
    }

    /// The rows that were skipped, each with its line (or path) and reason.
    #[must_use]
    pub fn problems(&self) -> &[RowProblem] {
        &self.problems
    }

    /// Number of labelled images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no image was labelled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row of an image, by its path (any of `images/00000001_000.png`,
    /// `00000001_000.png`, `train/patient00001/study1/view1_frontal.jpg`).
    ///
    /// Rows with the same file name compete; the one sharing the longest tail of path components
    /// with `path` wins.
    ///
    /// # Errors
    /// [`LookupError::NotFound`] if no row has the file name; [`LookupError::Ambiguous`] if
    /// several rows match equally well.
    pub fn lookup(&self, path: &str) -> Result<&LabelRow, LookupError> {
        self.position(path).map(|i| &self.rows[i])
    }

    /// Like [`LabelTable::lookup`], but the row's index in [`LabelTable::rows`].
    ///
    /// # Errors
    /// As [`LabelTable::lookup`].
    pub fn position(&self, path: &str) -> Result<usize, LookupError> {
        let path = normalise_path(path);
        let candidates = self
            .by_file_name
            .get(file_name(&path))
            .map_or(&[][..], Vec::as_slice);
        let score = |i: &usize| common_tail(&self.rows[*i].image, &path);
        let best = candidates.iter().map(score).max().unwrap_or(0);
        let winners: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| score(i) == best)
            .collect();
        match winners.as_slice() {
            [] => Err(LookupError::NotFound {
                file: self.file.clone(),
                path,
            }),
            [one] => Ok(*one),
            many => Err(LookupError::Ambiguous {
                file: self.file.clone(),
                path,
                count: many.len(),
            }),
        }
    }
}

/// Collects rows and problems, refusing duplicate images.
struct Builder {
    file: String,
    rows: Vec<LabelRow>,
    problems: Vec<RowProblem>,
    seen: HashMap<String, Location>,
}

impl Builder {
    fn new(file: &str) -> Self {
        Builder {
            file: file.to_owned(),
            rows: Vec::new(),
            problems: Vec::new(),
            seen: HashMap::new(),
        }
    }

    fn push(&mut self, at: Location, parsed: Result<LabelRow, ProblemKind>) {
        let parsed = parsed.and_then(|row| match self.seen.get(&row.image) {
            Some(first) => Err(ProblemKind::Duplicate {
                image: row.image.clone(),
                first: first.clone(),
            }),
            None => Ok(row),
        });
        match parsed {
            Ok(row) => {
                self.seen.insert(row.image.clone(), at);
                self.rows.push(row);
            }
            Err(kind) => self.problems.push(RowProblem {
                file: self.file.clone(),
                at,
                kind,
            }),
        }
    }

    fn finish(self, format: LabelFormat) -> LabelTable {
        LabelTable::from_rows(&self.file, format, self.rows, self.problems)
    }
}

/// The row loop shared by the CSV parsers: stops at an unclosed quote, skips blank lines, checks
/// the field count, then lets `parse_row` read the record; a bad row becomes a problem.
fn parse_rows(
    file: &str,
    format: LabelFormat,
    header: &[String],
    records: CsvRecords<'_>,
    mut parse_row: impl FnMut(&Record) -> Result<LabelRow, ProblemKind>,
) -> Result<LabelTable, LabelError> {
    let mut builder = Builder::new(file);
    for record in records {
        let record = record.map_err(|line| LabelError::UnclosedQuote {
            file: file.to_owned(),
            line,
        })?;
        if record.is_blank() {
            continue;
        }
        let parsed = check_field_count(header, &record).and_then(|()| parse_row(&record));
        builder.push(Location::Line(record.line), parsed);
    }
    Ok(builder.finish(format))
}

/// The first record as header, and the remaining records.
fn read_header<'a>(
    file: &str,
    text: &'a str,
    hint: &'static str,
) -> Result<(Vec<String>, CsvRecords<'a>), LabelError> {
    let mut records = CsvRecords::new(text);
    loop {
        match records.next() {
            None => {
                return Err(LabelError::Empty {
                    file: file.to_owned(),
                    hint,
                });
            }
            Some(Err(line)) => {
                return Err(LabelError::UnclosedQuote {
                    file: file.to_owned(),
                    line,
                });
            }
            Some(Ok(record)) if record.is_blank() => {}
            Some(Ok(record)) => return Ok((record.fields, records)),
        }
    }
}

/// The index of each wanted column, or an error naming all missing ones.
fn find_columns<const N: usize>(
    file: &str,
    format: LabelFormat,
    header: &[String],
    wanted: [&str; N],
) -> Result<[usize; N], LabelError> {
    let found = wanted.map(|name| column(header, name));
    let missing: Vec<String> = wanted
        .iter()
        .zip(&found)
        .filter(|(_, col)| col.is_none())
        .map(|(name, _)| (*name).to_owned())
        .collect();
    if missing.is_empty() {
        Ok(found.map(|col| col.unwrap_or_default()))
    } else {
        Err(LabelError::MissingColumns {
            file: file.to_owned(),
            format,
            missing,
            found: header.iter().filter(|h| !h.is_empty()).cloned().collect(),
        })
    }
}

/// The column whose header is `name`, ignoring case and `_` versus space.
fn column(header: &[String], name: &str) -> Option<usize> {
    let name = loose(name);
    header.iter().position(|h| loose(h) == name)
}

/// A row must have as many fields as the header, give or take one empty trailing field (the 2017
/// NIH file ends every line with a comma).
fn check_field_count(header: &[String], record: &Record) -> Result<(), ProblemKind> {
    let (h, r) = (header.len(), record.fields.len());
    let trailing_empty = |fields: &[String]| fields.last().is_some_and(String::is_empty);
    let ok = h == r
        || (r == h + 1 && trailing_empty(&record.fields))
        || (h == r + 1 && trailing_empty(header));
    if ok {
        Ok(())
    } else {
        Err(ProblemKind::FieldCount {
            expected: h,
            found: r,
        })
    }
}

/// A non-empty field.
fn required<'r>(record: &'r Record, col: usize, header: &[String]) -> Result<&'r str, ProblemKind> {
    match record.fields.get(col).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ProblemKind::Missing {
            column: header.get(col).cloned().unwrap_or_default(),
        }),
    }
}

/// NIH `Finding Labels`: `No Finding`, or findings separated by `|`.
fn nih_targets(labels: &str) -> Result<Targets, ProblemKind> {
    let mut targets = Targets::ALL_NEGATIVE;
    let mut no_finding = false;
    for name in labels.split('|').map(str::trim) {
        if name == "No Finding" {
            no_finding = true;
        } else if let Some(finding) = Finding::from_nih_name(name) {
            targets.set(finding, Some(true));
        } else {
            return Err(ProblemKind::UnknownFinding {
                name: name.to_owned(),
            });
        }
    }
    if no_finding && targets.any_positive() {
        return Err(ProblemKind::NoFindingWithFindings {
            labels: labels.to_owned(),
        });
    }
    Ok(targets)
}

/// One CheXpert label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Observation {
    Present,
    Absent,
    Uncertain,
    Blank,
}

fn chexpert_value(
    record: &Record,
    col: usize,
    header: &[String],
) -> Result<Observation, ProblemKind> {
    let value = record.fields.get(col).map_or("", String::as_str);
    if value.is_empty() {
        return Ok(Observation::Blank);
    }
    match value.parse::<f32>() {
        Ok(1.0) => Ok(Observation::Present),
        Ok(0.0) => Ok(Observation::Absent),
        Ok(-1.0) => Ok(Observation::Uncertain),
        _ => Err(ProblemKind::BadValue {
            column: header.get(col).cloned().unwrap_or_default(),
            value: value.to_owned(),
        }),
    }
}

/// The `patientNNNNN` component of a CheXpert path.
fn chexpert_patient(path: &str) -> Option<PatientId> {
    path.split(['/', '\\'])
        .find(|part| {
            part.strip_prefix("patient").is_some_and(|digits| {
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .map(|part| PatientId(part.to_owned()))
}

/// The patient of an NIH-style file name `PPPPPPPP_FFF.ext`, written as NIH's `Patient ID`
/// (no leading zeros).
fn nih_patient(name: &str) -> Option<PatientId> {
    let stem = name.split('.').next()?;
    let (patient, follow_up) = stem.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if patient.len() == 8 && digits(patient) && digits(follow_up) {
        let number: u64 = patient.parse().ok()?;
        Some(PatientId(number.to_string()))
    } else {
        None
    }
}

/// What a folder name says.
enum FolderKind {
    Label(FolderLabel),
    Split(Split),
    Other,
}

enum FolderLabel {
    Finding(Finding),
    Normal,
    Abnormal,
}

fn classify_folder(name: &str) -> FolderKind {
    // `0_normal`, `1_abnormal`, `2-Effusion`: drop a leading class number.
    let trimmed = name.trim_start_matches(|c: char| c.is_ascii_digit());
    let name = if trimmed.len() < name.len() {
        trimmed.trim_start_matches(['_', '-', ' ', '.'])
    } else {
        name
    };
    if name.is_empty() {
        return FolderKind::Other;
    }
    match loose(name).as_str() {
        "normal" | "no_finding" | "nofinding" => FolderKind::Label(FolderLabel::Normal),
        "abnormal" => FolderKind::Label(FolderLabel::Abnormal),
        "train" | "training" => FolderKind::Split(Split::Train),
        "valid" | "val" | "validation" => FolderKind::Split(Split::Validation),
        "test" | "testing" => FolderKind::Split(Split::Test),
        _ => Finding::from_loose_name(name).map_or(FolderKind::Other, |f| {
            FolderKind::Label(FolderLabel::Finding(f))
        }),
    }
}

/// `/` separators, no leading `./` or `/`, no empty components.
fn normalise_path(path: &str) -> String {
    path.split(['/', '\\'])
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// How many trailing path components two paths share.
fn common_tail(a: &str, b: &str) -> usize {
    a.rsplit(['/', '\\'])
        .zip(b.rsplit(['/', '\\']))
        .take_while(|(x, y)| x == y)
        .count()
}

/// `'a', 'b'` for messages.
fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "no columns".to_owned();
    }
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One CSV record: its fields (trimmed) and the line it starts on.
#[derive(Debug)]
struct Record {
    line: usize,
    fields: Vec<String>,
}

impl Record {
    fn is_blank(&self) -> bool {
        self.fields.iter().all(String::is_empty)
    }
}

/// A small RFC 4180 reader: `,` between fields, `"…"` around fields that hold commas, quotes
/// (doubled) or line breaks, `\n` or `\r\n` between records, an optional UTF-8 byte-order mark.
/// Yields `Err(line)` for a quote that never closes. Hand-written to keep the core free of
/// dependencies; label files are small enough to read whole.
struct CsvRecords<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        CsvRecords {
            text: text.strip_prefix('\u{feff}').unwrap_or(text),
            pos: 0,
            line: 1,
        }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = Result<Record, usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        let bytes = text.as_bytes();
        if self.pos >= bytes.len() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut i = self.pos;
        loop {
            if bytes.get(i) == Some(&b'"') {
                // A quoted part: up to the next lone quote; `""` is one quote.
                i += 1;
                loop {
                    let Some(offset) = text[i..].find('"') else {
                        self.pos = bytes.len();
                        return Some(Err(start_line));
                    };
                    let end = i + offset;
                    field.push_str(&text[i..end]);
                    self.line += text[i..end].matches('\n').count();
                    if bytes.get(end + 1) == Some(&b'"') {
                        field.push('"');
                        i = end + 2;
                    } else {
                        i = end + 1;
                        break;
                    }
                }
            }
            // An unquoted part (or what follows a closing quote): up to `,` or a line break.
            let end = text[i..]
                .find([',', '\n'])
                .map_or(bytes.len(), |offset| i + offset);
            field.push_str(&text[i..end]);
            fields.push(field.trim().to_owned());
            field.clear();
            i = end;
            if bytes.get(i) == Some(&b',') {
                i += 1;
                continue;
            }
            // End of the record (`\n`, or the end of the text); `trim` removed a `\r`.
            if i < bytes.len() {
                i += 1;
                self.line += 1;
            }
            break;
        }
        self.pos = i;
        Some(Ok(Record {
            line: start_line,
            fields,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIH_V2020: &str = include_str!("../../tests/fixtures/nih_v2020_excerpt.csv");
    const NIH_2017: &str = include_str!("../../tests/fixtures/nih_2017_excerpt.csv");
    const NIH800_CSV: &str = include_str!("../../tests/fixtures/Data_Entry_nih800.csv");
    const NIH800_FILES: &str = include_str!("../../tests/fixtures/nih800_files.txt");
    const CHEXPERT: &str = include_str!("../../tests/fixtures/chexpert_excerpt.csv");

    fn fields(text: &str) -> Vec<Vec<String>> {
        CsvRecords::new(text)
            .map(|r| r.expect("closed quotes").fields)
            .collect()
    }

    fn positives(row: &LabelRow) -> Vec<Finding> {
        row.targets.positives().collect()
    }

    fn nih800_files() -> Vec<&'static str> {
        NIH800_FILES.lines().filter(|l| !l.is_empty()).collect()
    }

    #[test]
    fn csv_reader_handles_quotes_crlf_and_bom() {
        let text = "\u{feff}a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n1,,3";
        let records: Vec<Record> = CsvRecords::new(text).map(|r| r.expect("ok")).collect();
        assert_eq!(records[0].fields, ["a", "b", "c"]);
        assert_eq!(records[1].fields, ["x, y", "say \"hi\"", "two\nlines"]);
        assert_eq!(records[2].fields, ["1", "", "3"]);
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1, 2, 4]
        );
        assert_eq!(fields("a,b,\n"), [vec!["a", "b", ""]]);
    }

    #[test]
    fn csv_reader_reports_an_unclosed_quote() {
        let mut records = CsvRecords::new("a,b\n1,\"oops\n2,3\n");
        assert!(records.next().is_some_and(|r| r.is_ok()));
        assert_eq!(records.next().map(|r| r.err()), Some(Some(2)));
        assert!(records.next().is_none());
        let error =
            LabelTable::parse_nih("x.csv", "Image Index,Finding Labels,Patient ID\n\"a,b,1\n")
                .expect_err("unclosed");
        assert_eq!(
            error.to_string(),
            "x.csv line 2: a quoted field is never closed; remove the stray '\"' or close the quote"
        );
    }

    #[test]
    fn header_forms_split_as_documented() {
        // v2020: the header's unquoted comma makes 11 fields, like the rows.
        let v2020 = fields(NIH_V2020);
        assert_eq!(v2020[0].len(), 11);
        assert_eq!(v2020[0][7], "OriginalImage[Width");
        assert!(v2020.iter().all(|f| f.len() == 11));
        // 2017 original: 12 fields, the last one empty, on every line.
        let original = fields(NIH_2017);
        assert!(original.iter().all(|f| f.len() == 12 && f[11].is_empty()));
    }

    #[test]
    fn nih_v2020_excerpt_rows_read_by_hand() {
        let table = LabelTable::parse_nih("Data_Entry_2017_v2020.csv", NIH_V2020).expect("parses");
        assert_eq!(table.problems(), []);
        assert_eq!(table.len(), 60);
        assert_eq!(table.format(), LabelFormat::NihDataEntry);
        let rows = table.rows();
        // Line 2: 00000001_000.png,Cardiomegaly,0,1,57,M,PA,…
        assert_eq!(rows[0].image, "00000001_000.png");
        assert_eq!(rows[0].patient, PatientId("1".into()));
        assert_eq!(positives(&rows[0]), [Finding::Cardiomegaly]);
        assert_eq!(rows[0].is_abnormal(), Some(true));
        // Line 3: Cardiomegaly|Emphysema.
        assert_eq!(
            positives(&rows[1]),
            [Finding::Cardiomegaly, Finding::Emphysema]
        );
        // Line 5: 00000002_000.png,No Finding,0,2,…: all 14 known and negative.
        assert_eq!(rows[3].image, "00000002_000.png");
        assert_eq!(rows[3].patient.as_str(), "2");
        assert_eq!(rows[3].targets, Targets::ALL_NEGATIVE);
        assert_eq!(rows[3].target(&Finding::ALL), vec![0.0; 14]);
        assert_eq!(rows[3].target_mask(&Finding::ALL), vec![1.0; 14]);
        assert_eq!(rows[3].is_abnormal(), Some(false));
        // Line 61: 00000013_043.png,Mass|Pleural_Thickening,…,13,…
        let last = &rows[59];
        assert_eq!(last.image, "00000013_043.png");
        assert_eq!(last.patient.as_str(), "13");
        assert_eq!(positives(last), [Finding::Mass, Finding::PleuralThickening]);
        // 16 `No Finding` rows, all of them all-zero; 13 patients.
        let normal: Vec<&LabelRow> = rows
            .iter()
            .filter(|r| r.is_abnormal() == Some(false))
            .collect();
        assert_eq!(normal.len(), 16);
        assert!(
            normal
                .iter()
                .all(|r| r.target(&Finding::ALL).iter().all(|v| *v == 0.0))
        );
        let mut patients: Vec<&str> = rows.iter().map(|r| r.patient.as_str()).collect();
        patients.dedup();
        assert_eq!(patients.len(), 13);
    }

    #[test]
    fn nih_2017_and_v2020_forms_parse_to_the_same_rows() {
        let v2020 = LabelTable::parse_nih("v2020.csv", NIH_V2020).expect("parses");
        let original = LabelTable::parse_nih("2017.csv", NIH_2017).expect("parses");
        assert_eq!(original.problems(), []);
        assert_eq!(original.rows(), v2020.rows());
        // Auto-detection picks NIH too.
        let detected =
            LabelTable::parse_csv("2017.csv", NIH_2017, UncertainPolicy::Ignore).expect("parses");
        assert_eq!(detected.rows(), v2020.rows());
    }

    #[test]
    fn nih800_csv_with_crlf() {
        let table = LabelTable::parse_nih("Data_Entry_nih800.csv", NIH800_CSV).expect("parses");
        assert_eq!(table.problems(), []);
        assert_eq!(table.len(), 800);
        let normal = table
            .rows()
            .iter()
            .filter(|r| r.is_abnormal() == Some(false))
            .count();
        assert_eq!(normal, 399);
        let patients: std::collections::HashSet<&PatientId> =
            table.rows().iter().map(|r| &r.patient).collect();
        assert_eq!(patients.len(), 221);
        assert!(!table.rows()[0].image.ends_with('\r'));
    }

    #[test]
    fn missing_columns_are_named_with_the_columns_found() {
        let error = LabelTable::parse_nih("labels.csv", "Image,Labels,Patient ID\nx.png,Mass,1\n")
            .expect_err("missing columns");
        assert!(matches!(
            &error,
            LabelError::MissingColumns { missing, .. } if missing == &["Image Index", "Finding Labels"]
        ));
        assert_eq!(
            error.to_string(),
            "labels.csv: missing column(s) 'Image Index', 'Finding Labels' for a NIH Data_Entry_2017 \
             file; found 'Image', 'Labels', 'Patient ID'. Check that this is a NIH Data_Entry_2017 \
             label file and that its first line is the header"
        );
        let empty = LabelTable::parse_nih("labels.csv", "\n\n").expect_err("empty");
        assert!(matches!(empty, LabelError::Empty { .. }));
        // A CheXpert file read as NIH names what it lacks.
        let error = LabelTable::parse_nih("train.csv", CHEXPERT).expect_err("not NIH");
        assert!(
            error
                .to_string()
                .contains("'Image Index', 'Finding Labels', 'Patient ID'")
        );
        assert!(error.to_string().contains("'Path', 'Sex'"));
    }

    #[test]
    fn bad_rows_are_reported_and_skipped() {
        let text = "Image Index,Finding Labels,Patient ID\n\
                    a.png,Efusion,1\n\
                    b.png,Mass|No Finding,2\n\
                    c.png,Mass,3,extra\n\
                    d.png,,4\n\
                    a.png,Mass,1\n\
                    \"e.png\",\"Mass|Nodule\",5\n\
                    a.png,Hernia,1\n";
        let table = LabelTable::parse_nih("labels.csv", text).expect("parses");
        assert_eq!(table.len(), 2);
        assert_eq!(table.rows()[0].image, "a.png");
        assert_eq!(positives(&table.rows()[0]), [Finding::Mass]);
        assert_eq!(
            positives(&table.rows()[1]),
            [Finding::Mass, Finding::Nodule]
        );
        let lines: Vec<Location> = table.problems().iter().map(|p| p.at.clone()).collect();
        assert_eq!(lines, [2, 3, 4, 5, 8].map(Location::Line));
        assert_eq!(
            table.problems()[0].to_string(),
            format!(
                "labels.csv line 2: unknown finding 'Efusion'; expected one of {}, or 'No Finding' alone",
                Finding::expected_names()
            )
        );
        assert!(matches!(
            table.problems()[2].kind,
            ProblemKind::FieldCount {
                expected: 3,
                found: 4
            }
        ));
        assert!(
            matches!(&table.problems()[3].kind, ProblemKind::Missing { column } if column == "Finding Labels")
        );
        assert_eq!(
            table.problems()[4].to_string(),
            "labels.csv line 8: image 'a.png' already labelled on line 6; delete one of the rows"
        );
    }

    #[test]
    fn chexpert_excerpt_rows_read_by_hand() {
        let table = LabelTable::parse_chexpert("train.csv", CHEXPERT, UncertainPolicy::Ignore)
            .expect("parses");
        assert_eq!(table.problems(), []);
        assert_eq!(table.len(), 40);
        let patients: std::collections::HashSet<&PatientId> =
            table.rows().iter().map(|r| &r.patient).collect();
        assert_eq!(patients.len(), 12);
        // Line 2: No Finding 1.0, Pneumothorax 0.0, Support Devices 1.0: the mapped blanks are
        // absent, the 7 unmapped NIH findings unknown.
        let first = &table.rows()[0];
        assert_eq!(
            first.image,
            "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg"
        );
        assert_eq!(first.patient.as_str(), "patient00001");
        for (_, f) in CHEXPERT_TO_NIH {
            assert_eq!(first.targets.get(f), Some(false), "{f}");
        }
        for f in [
            Finding::Infiltration,
            Finding::Mass,
            Finding::Nodule,
            Finding::Hernia,
        ] {
            assert_eq!(first.targets.get(f), None);
        }
        assert_eq!(first.is_abnormal(), Some(false));
        // Line 14 (patient00007/study1): Cardiomegaly, Atelectasis and Pneumothorax 1.0,
        // Pleural Effusion 0.0, Edema blank.
        let row = &table.rows()[12];
        assert_eq!(
            row.image,
            "CheXpert-v1.0-small/train/patient00007/study1/view1_frontal.jpg"
        );
        assert_eq!(
            positives(row),
            [
                Finding::Atelectasis,
                Finding::Cardiomegaly,
                Finding::Pneumothorax
            ]
        );
        assert_eq!(row.targets.get(Finding::Effusion), Some(false));
        assert_eq!(row.targets.get(Finding::Edema), None);
        assert_eq!(
            row.target_mask(&[Finding::Edema, Finding::Effusion]),
            [0.0, 1.0]
        );
    }

    #[test]
    fn chexpert_uncertain_policies() {
        // Line 3 (patient00002/study2): Cardiomegaly, Edema, Consolidation, Atelectasis and
        // Pleural Effusion are -1.0; Lung Opacity and Fracture 1.0.
        let uncertain = [
            Finding::Atelectasis,
            Finding::Cardiomegaly,
            Finding::Consolidation,
            Finding::Edema,
            Finding::Effusion,
        ];
        for (policy, expected) in [
            (UncertainPolicy::Ignore, None),
            (UncertainPolicy::Negative, Some(false)),
            (UncertainPolicy::Positive, Some(true)),
        ] {
            let table = LabelTable::parse_chexpert("train.csv", CHEXPERT, policy).expect("parses");
            let row = &table.rows()[1];
            assert_eq!(row.patient.as_str(), "patient00002");
            for f in uncertain {
                assert_eq!(row.targets.get(f), expected, "{policy:?} {f}");
            }
            assert_eq!(row.targets.get(Finding::Pneumonia), None);
            assert_eq!(
                row.abnormal,
                Some(true),
                "Lung Opacity and Fracture are 1.0"
            );
        }
    }

    #[test]
    fn chexpert_lookup_by_path_tail() {
        let table =
            LabelTable::parse_csv("train.csv", CHEXPERT, UncertainPolicy::Ignore).expect("parses");
        assert_eq!(table.format(), LabelFormat::CheXpert);
        let row = table
            .lookup("train/patient00001/study1/view1_frontal.jpg")
            .expect("found");
        assert_eq!(row.patient.as_str(), "patient00001");
        assert!(matches!(
            table.lookup("view1_frontal.jpg"),
            Err(LookupError::Ambiguous { count, .. }) if count > 1
        ));
        assert!(matches!(
            table.lookup("x.jpg"),
            Err(LookupError::NotFound { .. })
        ));
    }

    #[test]
    fn chexpert_bad_values_and_paths() {
        let header = CHEXPERT.lines().next().expect("header");
        let text = format!(
            "{header}\nCheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,yes,,,,,,,,,0.0,,,,1.0\n\
             somewhere/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0\n"
        );
        let table = LabelTable::parse_chexpert("train.csv", &text, UncertainPolicy::Ignore)
            .expect("parses");
        assert!(table.is_empty());
        assert_eq!(
            table.problems()[0].to_string(),
            "train.csv line 2: 'No Finding' is 'yes'; expected 1.0, 0.0, -1.0 (uncertain) or blank"
        );
        assert!(matches!(
            table.problems()[1].kind,
            ProblemKind::NoPatient { .. }
        ));
    }

    #[test]
    fn folder_names() {
        let table = LabelTable::from_folders(
            "my-xrays",
            &[
                "Effusion/a.png",
                "data/Pleural Thickening/b.png",
                "No Finding/c.png",
                "./test/normal/d.png",
                "2_Mass/e.png",
                "misc/f.png",
                "g.png",
            ],
        );
        let rows = table.rows();
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[0].targets,
            Targets::ALL_NEGATIVE.with(Finding::Effusion, Some(true))
        );
        assert_eq!(
            rows[0].patient.as_str(),
            "Effusion/a.png",
            "each file its own patient"
        );
        assert_eq!(positives(&rows[1]), [Finding::PleuralThickening]);
        assert_eq!(rows[2].targets, Targets::ALL_NEGATIVE);
        assert_eq!(rows[2].is_abnormal(), Some(false));
        assert_eq!(rows[3].image, "test/normal/d.png");
        assert_eq!(rows[3].given_split, Some(Split::Test));
        assert_eq!(positives(&rows[4]), [Finding::Mass]);
        assert_eq!(table.problems().len(), 2);
        assert!(
            table.problems()[0]
                .to_string()
                .starts_with("my-xrays 'misc/f.png': no folder names a label; put the image under")
        );
        assert!(matches!(
            table.lookup("f.png"),
            Err(LookupError::NotFound { .. })
        ));
    }

    #[test]
    fn nih800_folders() {
        let table = LabelTable::from_folders("nih800", &nih800_files());
        assert_eq!(table.problems(), []);
        assert_eq!(table.len(), 800);
        let count = |f: &dyn Fn(&LabelRow) -> bool| table.rows().iter().filter(|r| f(r)).count();
        assert_eq!(count(&|r| r.abnormal == Some(true)), 400);
        assert_eq!(count(&|r| r.is_abnormal() == Some(false)), 400);
        assert_eq!(count(&|r| r.given_split == Some(Split::Train)), 600);
        assert_eq!(count(&|r| r.given_split == Some(Split::Validation)), 200);
        // `1_abnormal` says nothing about which finding.
        let abnormal = table.lookup("00000001_000.png").expect("listed");
        assert_eq!(abnormal.image, "train/1_abnormal/00000001_000.png");
        assert_eq!(abnormal.targets, Targets::UNKNOWN);
        assert_eq!(abnormal.target_mask(&Finding::ALL), vec![0.0; 14]);
        assert_eq!(abnormal.patient.as_str(), "1");
    }

    #[test]
    fn nih800_folders_agree_with_its_csv_but_for_one_image() {
        let folders = LabelTable::from_folders("nih800", &nih800_files());
        let csv = LabelTable::parse_nih("Data_Entry_nih800.csv", NIH800_CSV).expect("parses");
        let mut disagree = Vec::new();
        for row in folders.rows() {
            let truth = csv
                .lookup(&row.image)
                .expect("every listed image is in the CSV");
            // File-name patients match NIH's `Patient ID`.
            assert_eq!(row.patient, truth.patient, "{}", row.image);
            if row.is_abnormal() != truth.is_abnormal() {
                disagree.push((row.image.as_str(), positives(truth)));
            }
        }
        // The data itself: one image in `valid/0_normal` is labelled Pneumonia in the CSV.
        assert_eq!(
            disagree,
            [("valid/0_normal/00000193_019.png", vec![Finding::Pneumonia])]
        );
    }

    #[test]
    fn nih800_given_split_puts_patients_on_both_sides() {
        // The shipped train/valid folders split by image: 15 of 221 patients are on both sides.
        // This is why `split` re-splits by patient.
        let folders = LabelTable::from_folders("nih800", &nih800_files());
        let mut sides: HashMap<&PatientId, Vec<Option<Split>>> = HashMap::new();
        for row in folders.rows() {
            let entry = sides.entry(&row.patient).or_default();
            if !entry.contains(&row.given_split) {
                entry.push(row.given_split);
            }
        }
        assert_eq!(sides.len(), 221);
        assert_eq!(sides.values().filter(|s| s.len() > 1).count(), 15);
    }

    #[test]
    fn targets_select_and_order_findings() {
        let row = LabelRow {
            image: "x.png".into(),
            patient: PatientId("1".into()),
            targets: Targets::UNKNOWN
                .with(Finding::Edema, Some(true))
                .with(Finding::Mass, Some(false)),
            abnormal: None,
            given_split: None,
        };
        let chosen = [Finding::Mass, Finding::Edema, Finding::Hernia];
        assert_eq!(row.target(&chosen), [0.0, 1.0, 0.0]);
        assert_eq!(row.target_mask(&chosen), [1.0, 1.0, 0.0]);
        assert_eq!(row.is_abnormal(), Some(true));
        let mut targets = row.targets;
        targets.set(Finding::Edema, None);
        assert_eq!(targets.get(Finding::Edema), None);
        assert!(!targets.any_positive());
    }
}
