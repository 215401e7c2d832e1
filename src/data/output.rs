//! [`Output`]: what one output of the model predicts — one of the 14 findings, or "abnormal"
//! (any finding, as opposed to NIH's `No Finding`). The findings are the article's task; the
//! abnormal output is what folder-per-class sets (`normal/`, `abnormal/`) can teach, since their
//! labels say nothing about the findings.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::labels::LabelRow;

/// One output of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Output {
    /// A finding.
    Finding(Finding),
    /// Anything abnormal: some finding present (NIH), an `abnormal` folder.
    Abnormal,
}

impl Output {
    /// The outputs for a list of findings.
    #[must_use]
    pub fn findings(findings: &[Finding]) -> Vec<Output> {
        findings.iter().copied().map(Output::Finding).collect()
    }

    /// The name in files and reports: the finding's NIH name, or `Abnormal`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Output::Finding(f) => f.name(),
            Output::Abnormal => "Abnormal",
        }
    }

    /// The name shown in the page.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Output::Finding(f) => f.label(),
            Output::Abnormal => "Abnormal",
        }
    }

    /// What a label row says about this output: present, absent, or unknown.
    #[must_use]
    pub fn of(self, row: &LabelRow) -> Option<bool> {
        match self {
            Output::Finding(f) => row.targets.get(f),
            Output::Abnormal => row.is_abnormal(),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
