//! What the user chose about the labels of a loaded set: what CheXpert's uncertain labels mean,
//! and which findings the model is trained on. Both can change after loading without reading
//! the images again ([`Dataset::relabel`](super::Dataset::relabel) re-reads the label file).

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::labels::UncertainPolicy;
use super::split::SplitConfig;

/// A set of findings, as a bit mask over [`Finding::index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FindingSet(u16);

impl FindingSet {
    /// All 14 findings.
    pub const ALL: FindingSet = FindingSet((1 << Finding::COUNT) - 1);
    /// No finding.
    pub const NONE: FindingSet = FindingSet(0);

    /// Whether `finding` is in the set.
    #[must_use]
    pub const fn contains(self, finding: Finding) -> bool {
        self.0 & (1 << finding.index()) != 0
    }

    /// A copy with `finding` put in or left out.
    #[must_use]
    pub const fn with(self, finding: Finding, included: bool) -> Self {
        let bit = 1 << finding.index();
        if included {
            FindingSet(self.0 | bit)
        } else {
            FindingSet(self.0 & !bit)
        }
    }

    /// The findings in the set, in NIH order: the model's outputs, in this order.
    #[must_use]
    pub fn findings(self) -> Vec<Finding> {
        Finding::ALL
            .into_iter()
            .filter(|f| self.contains(*f))
            .collect()
    }

    /// How many findings are in the set.
    #[must_use]
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty (nothing to train on).
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Default for FindingSet {
    fn default() -> Self {
        FindingSet::ALL
    }
}

impl FromIterator<Finding> for FindingSet {
    fn from_iter<I: IntoIterator<Item = Finding>>(iter: I) -> Self {
        iter.into_iter()
            .fold(FindingSet::NONE, |set, f| set.with(f, true))
    }
}

/// The user's choices about labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelOptions {
    /// What CheXpert's `-1.0` (uncertain) means; other label formats have no uncertain labels.
    pub uncertain: UncertainPolicy,
    /// The findings trained on and shown. A left-out finding is not an output of the model;
    /// an image whose only findings are left out has an all-zero target.
    pub findings: FindingSet,
}

/// How a loaded set is looked at: its split and its label choices. Changing either is cheap:
/// the images stay decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataView {
    /// Split fractions and seed.
    pub split: SplitConfig,
    /// Label choices.
    pub labels: LabelOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_has_all_fourteen_findings_in_nih_order() {
        assert_eq!(FindingSet::default().len(), Finding::COUNT);
        assert_eq!(FindingSet::default().findings(), Finding::ALL.to_vec());
    }

    #[test]
    fn leaving_a_finding_out_removes_only_it() {
        let set = FindingSet::ALL.with(Finding::Hernia, false);
        assert_eq!(set.len(), 13);
        assert!(!set.contains(Finding::Hernia));
        assert!(set.contains(Finding::Pneumonia));
        assert_eq!(set.with(Finding::Hernia, true), FindingSet::ALL);
        let two: FindingSet = [Finding::Effusion, Finding::Atelectasis]
            .into_iter()
            .collect();
        // NIH order, whatever the order of collection.
        assert_eq!(
            two.findings(),
            vec![Finding::Atelectasis, Finding::Effusion]
        );
        assert!(FindingSet::NONE.is_empty());
    }
}
