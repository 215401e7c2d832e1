//! [`Ingest`]: dropped files, one at a time as `(path, bytes)`, into an [`ImageStore`], a
//! [`LabelTable`] and a list of [`DataIssue`]s ("Issues with your data"), without ever failing
//! as a whole. Pure functions over bytes: the page feeds it `File`s read in the browser, the CLI
//! feeds it files from disk, tests feed it fixtures.
//!
//! What each file is, decided by [`classify`]:
//! - **Label file**: `.csv`, parsed with [`LabelTable::parse_csv`] (NIH or CheXpert). One label
//!   file is used; a second is reported and ignored. Its skipped rows are issues.
//! - **Image**: `.png`, `.jpg`/`.jpeg`, `.dcm`/`.dicom`, or any file whose *bytes* are PNG, JPEG
//!   or DICOM (DICOMs often have no extension). Decoded with [`decode_grey`] (content decides the
//!   decoder, so a PDF renamed `.png` is "not an image (looks like a PDF)").
//! - **System clutter**, ignored silently (only counted in [`Dataset::ignored`]): names starting
//!   with `.` (`.DS_Store`, macOS `._x.png`), `Thumbs.db`, `desktop.ini`, anything under
//!   `__MACOSX/`.
//! - **Anything else** (`.txt`, `.pdf`, `.json`, …): skipped, one [`DataIssue::Unsupported`] line,
//!   so a user who put labels in a `.txt` learns why they were not used.
//!
//! Duplicates (the second is reported and dropped, the first kept): the same path twice, or the
//! same file name with the same bytes (one image dropped twice, from two folders). Two
//! *different* images with one file name are both kept — CheXpert repeats `view1_frontal.jpg`
//! by design, and the path tells them apart — unless both join one label row, then the second
//! is left out of training ([`DataIssue::SameLabelRow`]).
//!
//! [`Ingest::finish`] joins images to labels by path with [`LabelTable::position`]: from the CSV
//! if one was given, else from the images' folders ([`LabelTable::from_folders`]:
//! `0_normal/`, `Effusion/`, …). It reports images without labels (one line each), labels
//! without images (one line in all: loading part of NIH's 112,120 rows is normal), and set-level
//! problems: no images, no labels, a single class.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher as _;

use super::image::{ImageError, Sniffed, decode_grey, sniff};
use super::labels::{
    LabelError, LabelFormat, LabelTable, LookupError, RowProblem, UncertainPolicy,
};
use super::store::ImageStore;
use super::{LabelRow, ProblemKind};

/// One line of "Issues with your data". Everything not named in an issue stays loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataIssue {
    /// An image file that could not be read (corrupt, truncated, not an image, too large,
    /// compressed DICOM, …); skipped.
    #[error("{0}")]
    Image(ImageError),
    /// A second copy of an image; skipped, the first kept.
    #[error("{path}: skipped, {why} {first}")]
    Duplicate {
        /// The skipped file.
        path: String,
        /// The file kept.
        first: String,
        /// Why it is a duplicate, in words.
        why: &'static str,
    },
    /// A file that is neither an image nor a label file; skipped.
    #[error(
        "{path}: skipped, {what} is not read; only PNG, JPEG and DICOM images and CSV label files are"
    )]
    Unsupported {
        /// The file.
        path: String,
        /// What it is (`a .txt file`, `a PDF`).
        what: String,
    },
    /// A label file that cannot be read at all.
    #[error("{0}")]
    LabelFile(LabelError),
    /// A `.csv` that is not text.
    #[error("{path}: not a label file: {detail}; save the labels as a UTF-8 CSV")]
    LabelNotText {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A label file after the first; ignored.
    #[error("{path}: ignored, labels already come from {used}; merge the rows into one CSV")]
    ExtraLabelFile {
        /// The ignored file.
        path: String,
        /// The file used.
        used: String,
    },
    /// A label row that was skipped (or, for folder labels, an image in no class folder).
    #[error("{0}")]
    LabelRow(RowProblem),
    /// An image without a label row; kept in the store, left out of training.
    #[error("{0}; the image is left out of training")]
    Unlabelled(LookupError),
    /// An image whose label row already labels another image; left out of training.
    #[error(
        "{path}: left out of training, it joins the same label row as {first}; two images cannot share one label (rename one, or remove the copy)"
    )]
    SameLabelRow {
        /// The image left out.
        path: String,
        /// The image that has the row.
        first: String,
    },
    /// Label rows with no image; one issue for all of them.
    #[error(
        "{count} row(s) of {file} have no image (e.g. {}); fine if you loaded only part of the data set",
        .examples.join(", ")
    )]
    LabelsWithoutImages {
        /// The label file.
        file: String,
        /// How many rows.
        count: usize,
        /// The first few images named by such rows.
        examples: Vec<String>,
    },
    /// Nothing could be loaded.
    #[error("no images were loaded; add PNG, JPEG or DICOM chest X-rays")]
    NoImages,
    /// Images, but neither a label file nor class folders.
    #[error(
        "no labels: add a CSV label file (NIH Data_Entry_2017.csv or CheXpert train.csv), or put the images in folders named after their class ('normal' / 'abnormal', or a finding such as 'Effusion')"
    )]
    NoLabels,
    /// Labels were given, but no image joined one.
    #[error(
        "none of the {images} images has a label in {file}; check that the label file belongs to these images"
    )]
    NoLabelledImages {
        /// The label source.
        file: String,
        /// How many images.
        images: usize,
    },
    /// Every labelled image has the same class.
    #[error(
        "all {count} labelled images are '{class}': a classifier needs at least two classes; add images of another class"
    )]
    SingleClass {
        /// The only class.
        class: String,
        /// How many labelled images.
        count: usize,
    },
}

impl DataIssue {
    /// The file the issue is about, where it is about one image or file.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        match self {
            DataIssue::Image(e) => Some(&e.file),
            DataIssue::Duplicate { path, .. }
            | DataIssue::Unsupported { path, .. }
            | DataIssue::LabelNotText { path, .. }
            | DataIssue::ExtraLabelFile { path, .. }
            | DataIssue::SameLabelRow { path, .. } => Some(path),
            DataIssue::Unlabelled(
                LookupError::NotFound { path, .. } | LookupError::Ambiguous { path, .. },
            ) => Some(path),
            _ => None,
        }
    }
}

/// What a file is, from its path and bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A `.csv` label file.
    Labels,
    /// An image (PNG, JPEG, DICOM, or another image format that is then reported).
    Image,
    /// System clutter, ignored silently.
    Clutter,
    /// Anything else.
    Unsupported,
}

/// Tells what a file is: by extension for labels and images, by content when the extension
/// says nothing (see the module doc).
#[must_use]
pub fn classify(path: &str, bytes: &[u8]) -> FileKind {
    let path = normalise(path);
    let name = file_name(&path);
    if name.starts_with('.')
        || name.eq_ignore_ascii_case("Thumbs.db")
        || name.eq_ignore_ascii_case("desktop.ini")
        || path.split('/').any(|part| part == "__MACOSX")
    {
        return FileKind::Clutter;
    }
    match extension(name).as_deref() {
        Some("csv") => FileKind::Labels,
        Some("png" | "jpg" | "jpeg" | "dcm" | "dicom" | "dic") => FileKind::Image,
        _ => match sniff(bytes) {
            Sniffed::NotImage(_) => FileKind::Unsupported,
            _ => FileKind::Image,
        },
    }
}

/// What [`Ingest::add_file`] did with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Decoded into the store at this index.
    Image(usize),
    /// Read as the label file.
    Labels,
    /// Ignored silently (clutter).
    Ignored,
    /// Not loaded; the reason is the last of [`Ingest::issues`].
    Issue,
}

/// An incremental loader of a dropped data set; see the module doc.
#[derive(Debug)]
pub struct Ingest {
    policy: UncertainPolicy,
    store: ImageStore,
    labels: Option<LabelTable>,
    /// The label file's text, kept so that [`Dataset::relabel`] can read it again.
    label_text: Option<String>,
    /// Issues about files (the label table's row problems are added by the join).
    issues: Vec<DataIssue>,
    ignored: Vec<String>,
    /// Store index by normalised path.
    by_path: HashMap<String, usize>,
    /// Path of the first image with this file name and content hash.
    by_content: HashMap<(String, u64, usize), String>,
}

impl Ingest {
    /// An empty ingest decoding to `side`×`side` images (see `image::DEFAULT_SIDE`), with
    /// CheXpert's uncertain labels ignored.
    #[must_use]
    pub fn new(side: u32) -> Self {
        Ingest {
            policy: UncertainPolicy::default(),
            store: ImageStore::new(side),
            labels: None,
            label_text: None,
            issues: Vec::new(),
            ignored: Vec::new(),
            by_path: HashMap::new(),
            by_content: HashMap::new(),
        }
    }

    /// Sets what CheXpert's uncertain labels become.
    #[must_use]
    pub fn with_policy(mut self, policy: UncertainPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Makes room for `images` more images, when the number of files is known up front.
    pub fn reserve(&mut self, images: usize) {
        self.store.reserve(images);
    }

    /// Takes one file: decodes an image into the store, reads a label file, or records why not.
    /// Never fails: problems become [`DataIssue`]s.
    pub fn add_file(&mut self, path: &str, bytes: &[u8]) -> Added {
        let path = normalise(path);
        match classify(&path, bytes) {
            FileKind::Clutter => {
                self.ignored.push(path);
                Added::Ignored
            }
            FileKind::Unsupported => {
                let what = match (sniff(bytes), extension(file_name(&path))) {
                    (Sniffed::NotImage("a PDF"), _) => "a PDF".to_owned(),
                    (_, Some(ext)) => format!("a .{ext} file"),
                    (Sniffed::NotImage(what), None) => what.to_owned(),
                    (_, None) => "this file".to_owned(),
                };
                self.issue(DataIssue::Unsupported { path, what })
            }
            FileKind::Labels => self.add_labels(path, bytes),
            FileKind::Image => self.add_image(path, bytes),
        }
    }

    fn issue(&mut self, issue: DataIssue) -> Added {
        self.issues.push(issue);
        Added::Issue
    }

    fn add_labels(&mut self, path: String, bytes: &[u8]) -> Added {
        if let Some(used) = &self.labels {
            let used = used.file().to_owned();
            return self.issue(DataIssue::ExtraLabelFile { path, used });
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => text,
            Ok(_) => {
                let detail = "it holds binary data".to_owned();
                return self.issue(DataIssue::LabelNotText { path, detail });
            }
            Err(e) => {
                let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                return self.issue(DataIssue::LabelNotText { path, detail });
            }
        };
        match LabelTable::parse_csv(&path, text, self.policy) {
            Ok(table) => {
                self.labels = Some(table);
                self.label_text = Some(text.to_owned());
                Added::Labels
            }
            Err(e) => self.issue(DataIssue::LabelFile(e)),
        }
    }

    fn add_image(&mut self, path: String, bytes: &[u8]) -> Added {
        if self.by_path.contains_key(&path) {
            let first = path.clone();
            return self.issue(DataIssue::Duplicate {
                path,
                first,
                why: "the same path was already loaded:",
            });
        }
        let mut hasher = DefaultHasher::new();
        hasher.write(bytes);
        let key = (file_name(&path).to_owned(), hasher.finish(), bytes.len());
        if let Some(first) = self.by_content.get(&key) {
            let first = first.clone();
            return self.issue(DataIssue::Duplicate {
                path,
                first,
                why: "same file name and content as",
            });
        }
        match decode_grey(&path, bytes, self.store.side()) {
            Ok(image) => {
                let index = self.store.push(path.clone(), &image);
                self.by_path.insert(path.clone(), index);
                self.by_content.insert(key, path);
                Added::Image(index)
            }
            Err(e) => self.issue(DataIssue::Image(e)),
        }
    }

    /// The images loaded so far.
    #[must_use]
    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// The issues so far (set-level issues and the join come with [`Ingest::finish`]).
    #[must_use]
    pub fn issues(&self) -> &[DataIssue] {
        &self.issues
    }

    /// Joins images to labels and checks the set as a whole; see the module doc.
    #[must_use]
    pub fn finish(self) -> Dataset {
        let Ingest {
            mut store,
            labels,
            label_text,
            policy,
            issues,
            ignored,
            ..
        } = self;
        store.shrink_to_fit();
        Dataset::join(
            store,
            labels,
            Sources {
                label_text,
                policy,
                file_issues: issues,
                ignored,
            },
        )
    }
}

/// What a [`Dataset`] keeps of its ingest to join again with other label choices.
#[derive(Debug, Clone)]
struct Sources {
    /// The label file's text, if a CSV was given.
    label_text: Option<String>,
    /// What CheXpert's uncertain labels were read as.
    policy: UncertainPolicy,
    /// Issues about files, which no label choice changes.
    file_issues: Vec<DataIssue>,
    /// Clutter ignored silently.
    ignored: Vec<String>,
}

impl Dataset {
    /// Joins the images of `store` to `labels` (or to their folders when no CSV was given) and
    /// checks the set as a whole.
    fn join(store: ImageStore, labels: Option<LabelTable>, sources: Sources) -> Dataset {
        let mut issues = sources.file_issues.clone();
        let ignored = sources.ignored.clone();
        let mut rows = vec![None; store.len()];
        if let Some(table) = &labels {
            issues.extend(table.problems().iter().cloned().map(DataIssue::LabelRow));
        }
        if store.is_empty() {
            issues.push(DataIssue::NoImages);
            return Dataset {
                store,
                labels,
                rows,
                issues,
                ignored,
                sources,
            };
        }
        let from_csv = labels.is_some();
        let table = labels.unwrap_or_else(|| LabelTable::from_folders("folders", store.names()));
        if !from_csv {
            let no_folder = table
                .problems()
                .iter()
                .filter(|p| p.kind == ProblemKind::NoLabelFolder)
                .count();
            if table.is_empty() && no_folder == store.len() {
                issues.push(DataIssue::NoLabels);
            } else {
                issues.extend(table.problems().iter().cloned().map(DataIssue::LabelRow));
            }
        }

        // Join: the first image to reach a row keeps it.
        let mut row_owner: HashMap<usize, usize> = HashMap::new();
        for (i, name) in store.names().iter().enumerate() {
            match table.position(name) {
                Ok(row) => {
                    if let Some(first) = row_owner.get(&row) {
                        issues.push(DataIssue::SameLabelRow {
                            path: name.clone(),
                            first: store.names()[*first].clone(),
                        });
                    } else {
                        row_owner.insert(row, i);
                        rows[i] = Some(row);
                    }
                }
                // Folder labels already reported the image as a row problem.
                Err(e) if from_csv => issues.push(DataIssue::Unlabelled(e)),
                Err(_) => {}
            }
        }
        if from_csv {
            let missing: Vec<&LabelRow> = table
                .rows()
                .iter()
                .enumerate()
                .filter(|(r, _)| !row_owner.contains_key(r))
                .map(|(_, row)| row)
                .collect();
            if !missing.is_empty() {
                issues.push(DataIssue::LabelsWithoutImages {
                    file: table.file().to_owned(),
                    count: missing.len(),
                    examples: missing.iter().take(3).map(|r| r.image.clone()).collect(),
                });
            }
        }

        let labelled: Vec<&LabelRow> = rows.iter().flatten().map(|r| &table.rows()[*r]).collect();
        if labelled.is_empty() {
            if !issues.contains(&DataIssue::NoLabels) {
                issues.push(DataIssue::NoLabelledImages {
                    file: table.file().to_owned(),
                    images: store.len(),
                });
            }
        } else {
            let mut classes: Vec<String> = labelled.iter().flat_map(|r| classes_of(r)).collect();
            classes.sort();
            classes.dedup();
            if let [class] = classes.as_slice() {
                issues.push(DataIssue::SingleClass {
                    class: class.clone(),
                    count: labelled.len(),
                });
            }
        }
        Dataset {
            store,
            labels: Some(table),
            rows,
            issues,
            ignored,
            sources,
        }
    }

    /// The same images with CheXpert's uncertain labels read as `policy`: the label file is
    /// parsed again and joined again, the images are not touched. Other label formats have no
    /// uncertain labels and come back as they are.
    #[must_use]
    pub fn relabel(self, policy: UncertainPolicy) -> Dataset {
        let is_chexpert = self
            .labels
            .as_ref()
            .is_some_and(|t| t.format() == LabelFormat::CheXpert);
        if policy == self.sources.policy || !is_chexpert {
            return self;
        }
        let (Some(text), Some(file)) = (
            self.sources.label_text.as_deref(),
            self.labels.as_ref().map(|t| t.file().to_owned()),
        ) else {
            return self;
        };
        match LabelTable::parse_chexpert(&file, text, policy) {
            Ok(table) => {
                let sources = Sources {
                    policy,
                    ..self.sources
                };
                Dataset::join(self.store, Some(table), sources)
            }
            // It parsed once with another policy; the policy does not decide whether it parses.
            Err(_) => self,
        }
    }

    /// What CheXpert's uncertain labels were read as.
    #[must_use]
    pub fn uncertain_policy(&self) -> UncertainPolicy {
        self.sources.policy
    }
}

/// The classes an image counts towards: its positive findings, else `abnormal`/`normal`.
fn classes_of(row: &LabelRow) -> Vec<String> {
    let positives: Vec<String> = row
        .targets
        .positives()
        .map(|f| f.name().to_owned())
        .collect();
    if !positives.is_empty() {
        return positives;
    }
    match row.is_abnormal() {
        Some(true) => vec!["abnormal".to_owned()],
        Some(false) => vec!["normal".to_owned()],
        None => Vec::new(),
    }
}

/// A loaded data set: the images, their labels, and the issues.
#[derive(Debug)]
pub struct Dataset {
    /// The images, by index.
    pub store: ImageStore,
    /// The labels used: the CSV, or the folder labels; `None` only when no image was loaded and
    /// no CSV given.
    pub labels: Option<LabelTable>,
    /// For each image of `store`, its row in `labels`; `None` when it has no (usable) label.
    pub rows: Vec<Option<usize>>,
    /// Every issue, one line each: the files' issues in the order found, then the label file's
    /// row problems, then the join's and the set's.
    pub issues: Vec<DataIssue>,
    /// Clutter ignored silently (`.DS_Store`, …).
    pub ignored: Vec<String>,
    /// What the join started from, to join again ([`Dataset::relabel`]).
    sources: Sources,
}

impl Dataset {
    /// Images with a label: `(store index, row)`.
    pub fn labelled(&self) -> impl Iterator<Item = (usize, &LabelRow)> {
        self.rows.iter().enumerate().filter_map(|(i, r)| {
            let row = &self.labels.as_ref()?.rows()[(*r)?];
            Some((i, row))
        })
    }

    /// A one-line summary, e.g. "20 images (19 labelled), 4 issues, 1 file ignored, 1.0 MB".
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "{} images ({} labelled), {} issue(s), {} file(s) ignored, {:.1} MB",
            self.store.len(),
            self.labelled().count(),
            self.issues.len(),
            self.ignored.len(),
            self.store.memory_bytes() as f64 / 1e6
        )
    }
}

/// Forward slashes, no empty or `.` components.
fn normalise(path: &str) -> String {
    path.split(['/', '\\'])
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The lower-case extension, if any (`None` for `README`, `.DS_Store`).
fn extension(name: &str) -> Option<String> {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext.to_ascii_lowercase()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Finding;
    use crate::data::dicom::tests::{PixelInput, write_dicom};
    use crate::data::image::ImageErrorKind;
    use crate::data::image::tests::{png, png_header_only};
    use dicom_dictionary_std::uids;
    use image::ExtendedColorType;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");

    /// The fixture images as `(relative path, bytes)`, sorted.
    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for class in ["0_normal", "1_abnormal"] {
            let dir = format!("{FIXTURES}/{class}");
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                out.push((format!("{class}/{name}"), std::fs::read(&path).unwrap()));
            }
        }
        out.sort();
        out
    }

    fn issue_paths(issues: &[DataIssue]) -> Vec<String> {
        let mut paths: Vec<String> = issues
            .iter()
            .filter_map(|i| i.path().map(str::to_owned))
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn mixed_folder_keeps_good_files_and_lists_bad_ones() {
        let good = fixtures();
        assert_eq!(good.len(), 20);
        let mut ingest = Ingest::new(224);
        for (path, bytes) in &good {
            assert!(
                matches!(ingest.add_file(path, bytes), Added::Image(_)),
                "{path}"
            );
        }
        let truncated = &good[0].1[..good[0].1.len() / 2];
        let monochrome1 = write_dicom(
            8,
            8,
            "MONOCHROME1",
            PixelInput::U16((0..64).map(|i| i * 50).collect()),
            vec![],
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let compressed = write_dicom(
            4,
            4,
            "MONOCHROME2",
            PixelInput::U8(vec![0; 16]),
            vec![],
            uids::JPEG_LOSSLESS_SV1,
        );
        let duplicate = format!("copy/{}", good[0].0);
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("1_abnormal/truncated.png", truncated.to_vec()),
            (
                "1_abnormal/report.png",
                b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj".to_vec(),
            ),
            ("0_normal/huge.png", png_header_only(12_000, 12_000)),
            ("0_normal/empty.jpg", Vec::new()),
            ("1_abnormal/compressed.dcm", compressed),
            // Same name and bytes as a fixture, in another folder.
            (&duplicate, good[0].1.clone()),
            ("notes.txt", b"scanned at 2 am".to_vec()),
            ("1_abnormal/scan.gif", b"GIF89a\x01\0\x01\0".to_vec()),
        ];
        for (path, bytes) in &bad {
            assert_eq!(ingest.add_file(path, bytes), Added::Issue, "{path}");
        }
        // Fine files among the bad: a DICOM without extension, clutter.
        assert!(matches!(
            ingest.add_file("1_abnormal/IM0001", &monochrome1),
            Added::Image(20)
        ));
        assert_eq!(
            ingest.add_file(".DS_Store", b"\0\0\0\x01Bud1"),
            Added::Ignored
        );
        assert_eq!(
            ingest.add_file("__MACOSX/1_abnormal/._x.png", b"\0\x05\x16\x07"),
            Added::Ignored
        );
        // The same path again.
        assert_eq!(ingest.add_file(&good[3].0, &good[3].1), Added::Issue);

        let data = ingest.finish();
        for issue in &data.issues {
            eprintln!("{issue}");
        }
        let mut expected: Vec<String> = bad.iter().map(|(p, _)| (*p).to_owned()).collect();
        expected.push(good[3].0.clone());
        expected.sort();
        // Skipped files are not folder-label rows either: no other issue.
        assert_eq!(issue_paths(&data.issues), expected);
        assert_eq!(data.issues.len(), expected.len(), "only per-file issues");
        assert_eq!(data.store.len(), 21);
        assert_eq!(data.labelled().count(), 21);
        assert_eq!(data.ignored.len(), 2);
        let line = |path: &str| {
            data.issues
                .iter()
                .find(|i| i.path() == Some(path))
                .unwrap()
                .to_string()
        };
        assert!(line("1_abnormal/report.png").contains("not an image (looks like a PDF)"));
        assert!(line("0_normal/huge.png").contains("too large"));
        assert!(line("1_abnormal/compressed.dcm").contains("JPEG Lossless SV1"));
        assert!(line("notes.txt").contains("a .txt file is not read"));
        assert!(line("1_abnormal/scan.gif").contains("GIF images are not read"));
        assert!(matches!(
            data.issues
                .iter()
                .find(|i| i.path() == Some("1_abnormal/truncated.png")),
            Some(DataIssue::Image(ImageError {
                kind: ImageErrorKind::Corrupt { .. },
                ..
            }))
        ));
        // Every issue is one line.
        assert!(data.issues.iter().all(|i| !i.to_string().contains('\n')));
        // Pixels of a fixture match a direct decode.
        let direct = decode_grey("x", &good[7].1, 224).unwrap();
        assert_eq!(data.store.get(7).unwrap(), &direct.pixels[..]);
        eprintln!("{}", data.summary());
    }

    #[test]
    fn csv_join_reports_both_sides() {
        let good = fixtures();
        let mut ingest = Ingest::new(32);
        let name = |i: usize| good[i].0.rsplit('/').next().unwrap().to_owned();
        // Labels for images 0..3 and one image that is not there; image 3 has no row.
        let mut csv = "Image Index,Finding Labels,Follow-up #,Patient ID\n".to_owned();
        csv += &format!("{},No Finding,0,1\n", name(0));
        csv += &format!("{},Effusion,0,2\n", name(1));
        csv += &format!("{},Effusion|Mass,0,3\n", name(2));
        csv += "99999999_000.png,Hernia,0,4\n";
        csv += "bad.png,Efusion,0,5\n";
        for (path, bytes) in &good[..4] {
            ingest.add_file(path, bytes);
        }
        assert_eq!(
            ingest.add_file("Data_Entry_2017.csv", csv.as_bytes()),
            Added::Labels
        );
        assert_eq!(ingest.add_file("other.csv", csv.as_bytes()), Added::Issue);
        let data = ingest.finish();
        let lines: Vec<String> = data.issues.iter().map(ToString::to_string).collect();
        for l in &lines {
            eprintln!("{l}");
        }
        assert_eq!(lines.len(), 4, "{lines:#?}");
        // Files first, then the label file's rows, then the join.
        assert!(lines[0].starts_with("other.csv: ignored"));
        assert!(lines[1].contains("unknown finding 'Efusion'"));
        assert!(lines[2].contains(&name(3)) && lines[2].contains("left out of training"));
        assert!(
            lines[3].starts_with(
                "1 row(s) of Data_Entry_2017.csv have no image (e.g. 99999999_000.png)"
            )
        );
        assert_eq!(data.labelled().count(), 3);
        assert_eq!(data.rows[3], None);
    }

    #[test]
    fn set_level_issues() {
        let good = fixtures();
        // Empty.
        let data = Ingest::new(16).finish();
        assert_eq!(data.issues, vec![DataIssue::NoImages]);
        // Single class: normal images only.
        let mut ingest = Ingest::new(16);
        for (path, bytes) in good.iter().filter(|(p, _)| p.starts_with("0_normal")) {
            ingest.add_file(path, bytes);
        }
        let data = ingest.finish();
        assert_eq!(
            data.issues,
            vec![DataIssue::SingleClass {
                class: "normal".to_owned(),
                count: 10
            }]
        );
        // No labels at all: flat folder, no CSV.
        let mut ingest = Ingest::new(16);
        for (path, bytes) in &good[..3] {
            ingest.add_file(path.rsplit('/').next().unwrap(), bytes);
        }
        let data = ingest.finish();
        assert_eq!(data.issues, vec![DataIssue::NoLabels]);
        assert_eq!(data.store.len(), 3);
        // Two different images with one file name in two class folders: both kept (folder
        // labels tell them apart).
        let mut ingest = Ingest::new(16);
        ingest.add_file("0_normal/a.png", &good[0].1);
        ingest.add_file("1_abnormal/a.png", &good[15].1);
        let data = ingest.finish();
        assert!(data.issues.is_empty(), "{:?}", data.issues);
        assert_eq!(data.labelled().count(), 2);
    }

    #[test]
    fn classification() {
        let p = png(1, 1, ExtendedColorType::L8, &[0]);
        assert_eq!(classify("a/b.PNG", &p), FileKind::Image);
        assert_eq!(classify("labels.CSV", b"a,b"), FileKind::Labels);
        assert_eq!(classify("IM0001", &p), FileKind::Image);
        assert_eq!(classify("README", b"hello"), FileKind::Unsupported);
        assert_eq!(classify("x/.DS_Store", b"\0"), FileKind::Clutter);
        assert_eq!(classify("x\\Thumbs.db", b"\0"), FileKind::Clutter);
        assert_eq!(classify("notes.txt", b"hello"), FileKind::Unsupported);
        assert_eq!(classify("scan.pdf", b"%PDF"), FileKind::Unsupported);
        assert_eq!(classify("scan.png", b"%PDF"), FileKind::Image);
    }

    #[test]
    fn relabel_reads_chexpert_uncertain_labels_again_without_the_images() {
        let csv = include_str!("../../tests/fixtures/chexpert_excerpt.csv");
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let col = header.iter().position(|h| *h == "Edema").unwrap();
        // The independent answer: the rows whose Edema cell is -1.0, read off the text.
        let uncertain: Vec<String> = csv
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(col) == Some("-1.0"))
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect();
        assert!(
            !uncertain.is_empty(),
            "the excerpt has uncertain Edema labels"
        );
        let paths: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect();

        let mut ingest = Ingest::new(8);
        ingest.add_file("train.csv", csv.as_bytes());
        for (i, path) in paths.iter().enumerate() {
            // Distinct bytes per image, so none is a duplicate of another.
            let image = png(2, 2, ExtendedColorType::L8, &[i as u8, 64, 128, 255]);
            assert_eq!(ingest.add_file(path, &image), Added::Image(i), "{path}");
        }
        let ignore = ingest.finish();
        let edema = |data: &Dataset, path: &str| {
            let i = data.store.names().iter().position(|n| n == path).unwrap();
            data.labelled()
                .find(|(j, _)| *j == i)
                .map(|(_, row)| row.targets.get(Finding::Edema))
        };
        assert_eq!(ignore.uncertain_policy(), UncertainPolicy::Ignore);
        for path in &uncertain {
            assert_eq!(
                edema(&ignore, path),
                Some(None),
                "{path}: unknown when ignored"
            );
        }
        let issues_before = ignore.issues.clone();
        let store_bytes = ignore.store.memory_bytes();

        let ones = ignore.relabel(UncertainPolicy::Positive);
        assert_eq!(ones.uncertain_policy(), UncertainPolicy::Positive);
        for path in &uncertain {
            assert_eq!(edema(&ones, path), Some(Some(true)), "{path}: U-Ones");
        }
        assert_eq!(ones.store.memory_bytes(), store_bytes);
        let zeros = ones.relabel(UncertainPolicy::Negative);
        for path in &uncertain {
            assert_eq!(edema(&zeros, path), Some(Some(false)), "{path}: U-Zeros");
        }
        let back = zeros.relabel(UncertainPolicy::Ignore);
        for path in &uncertain {
            assert_eq!(edema(&back, path), Some(None), "{path}: back to unknown");
        }
        assert_eq!(back.issues, issues_before, "the same issues, once each");
    }

    #[test]
    fn relabel_leaves_other_formats_alone() {
        let data = {
            let mut ingest = Ingest::new(16);
            for (path, bytes) in fixtures() {
                ingest.add_file(&path, &bytes);
            }
            ingest.finish()
        };
        let labelled = data.labelled().count();
        let issues = data.issues.clone();
        let again = data.relabel(UncertainPolicy::Positive);
        assert_eq!(again.labelled().count(), labelled);
        assert_eq!(again.issues, issues);
    }
}
