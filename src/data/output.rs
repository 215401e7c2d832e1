//! [`Output`]: what one output of the model predicts — one of the 14 findings, or "abnormal"
//! (any finding, as opposed to NIH's `No Finding`). The findings are the article's task; the
//! abnormal output is what folder-per-class sets (`normal/`, `abnormal/`) can teach, since their
//! labels say nothing about the findings.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::labels::LabelRow;

/// One output of the model. Serialised as its [`Output::name`] (`"Effusion"`, `"Abnormal"`), so
/// model files and reports read like the label file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
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

impl From<Output> for String {
    fn from(output: Output) -> String {
        output.name().to_owned()
    }
}

impl TryFrom<String> for Output {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if name == "Abnormal" {
            return Ok(Output::Abnormal);
        }
        Finding::from_nih_name(&name)
            .map(Output::Finding)
            .ok_or_else(|| {
                format!(
                    "unknown output '{name}'; expected Abnormal or one of {}",
                    Finding::expected_names()
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_its_name_and_back() {
        let outputs = vec![
            Output::Finding(Finding::PleuralThickening),
            Output::Abnormal,
        ];
        let json = serde_json::to_string(&outputs).unwrap();
        assert_eq!(json, r#"["Pleural_Thickening","Abnormal"]"#);
        assert_eq!(serde_json::from_str::<Vec<Output>>(&json).unwrap(), outputs);
        assert!(serde_json::from_str::<Output>(r#""Efusion""#).is_err());
    }
}
