//! Every finding of an evaluated split at once: what the page's ROC plot, AUC table and the
//! augmentation comparison show.

use serde::{Deserialize, Serialize};

use super::auc::auc;
use super::bootstrap::{BootstrapConfig, Interval, bootstrap_auc};
use super::roc::{RocCurve, roc_curve};
use crate::data::Output;

/// What the page shows instead of an AUC that cannot be computed.
pub const NOT_AVAILABLE: &str = "n/a — needs positive and negative examples";

/// One finding's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingEvaluation {
    /// Which output (a finding, or abnormal).
    pub output: Output,
    /// Images where it is present (among those whose label is known).
    pub positives: usize,
    /// Images where it is absent.
    pub negatives: usize,
    /// The AUC; `None` without both positives and negatives.
    pub auc: Option<f64>,
    /// Its bootstrap interval.
    pub interval: Option<Interval>,
    /// The ROC curve.
    pub roc: Option<RocCurve>,
}

impl FindingEvaluation {
    /// The AUC as the page writes it: `0.812 (0.771–0.850)`, or [`NOT_AVAILABLE`].
    #[must_use]
    pub fn auc_text(&self) -> String {
        match (self.auc, self.interval) {
            (Some(auc), Some(ci)) => format!("{auc:.3} ({:.3}–{:.3})", ci.low, ci.high),
            (Some(auc), None) => format!("{auc:.3}"),
            _ => NOT_AVAILABLE.to_owned(),
        }
    }
}

/// All findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Images evaluated.
    pub images: usize,
    /// One entry per finding, in the model's output order.
    pub findings: Vec<FindingEvaluation>,
    /// The mean AUC over the findings that have one; `None` if none has.
    pub mean_auc: Option<f64>,
    /// Findings with an AUC above 0.5 (chance).
    pub above_chance: usize,
    /// Findings with an AUC at all.
    pub with_auc: usize,
}

/// Evaluates `scores` (probabilities or logits: only their order matters) against `targets`,
/// both `images × findings.len()` row-major; `mask` (same shape, optional) is 0 where a label is
/// unknown (CheXpert blanks) and leaves that image out of that finding.
///
/// # Panics
/// If the slices' lengths do not match `findings.len()`.
#[must_use]
pub fn evaluate(
    findings: &[Output],
    scores: &[f32],
    targets: &[f32],
    mask: Option<&[f32]>,
    bootstrap: Option<&BootstrapConfig>,
) -> Evaluation {
    let k = findings.len();
    assert!(k > 0, "at least one finding");
    assert_eq!(scores.len() % k, 0, "scores are images × findings");
    assert_eq!(scores.len(), targets.len(), "one target per score");
    if let Some(mask) = mask {
        assert_eq!(mask.len(), scores.len(), "one mask value per score");
    }
    let images = scores.len() / k;
    let per_finding: Vec<FindingEvaluation> = findings
        .iter()
        .enumerate()
        .map(|(j, finding)| {
            let known = |i: &usize| mask.is_none_or(|m| m[i * k + j] > 0.5);
            let rows: Vec<usize> = (0..images).filter(known).collect();
            let s: Vec<f32> = rows.iter().map(|i| scores[i * k + j]).collect();
            let l: Vec<bool> = rows.iter().map(|i| targets[i * k + j] > 0.5).collect();
            let positives = l.iter().filter(|x| **x).count();
            FindingEvaluation {
                output: *finding,
                positives,
                negatives: l.len() - positives,
                auc: auc(&s, &l),
                interval: bootstrap.and_then(|config| {
                    // A different stream per finding, still fixed by the one seed.
                    let config = BootstrapConfig {
                        seed: config.seed.wrapping_add(j as u64),
                        ..*config
                    };
                    bootstrap_auc(&s, &l, &config)
                }),
                roc: roc_curve(&s, &l),
            }
        })
        .collect();
    let aucs: Vec<f64> = per_finding.iter().filter_map(|f| f.auc).collect();
    Evaluation {
        images,
        mean_auc: (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64),
        above_chance: aucs.iter().filter(|a| **a > 0.5).count(),
        with_auc: aucs.len(),
        findings: per_finding,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Finding;

    #[test]
    fn findings_without_both_classes_are_not_available_and_left_out_of_the_mean() {
        let findings = Output::findings(&[Finding::Atelectasis, Finding::Hernia, Finding::Edema]);
        // 4 images × 3 findings. Atelectasis: perfect. Hernia: no positive. Edema: inverted.
        let scores = [0.9, 0.1, 0.2, 0.8, 0.3, 0.4, 0.2, 0.5, 0.9, 0.1, 0.6, 0.7];
        let targets = [1., 0., 1., 1., 0., 1., 0., 0., 0., 0., 0., 0.];
        let e = evaluate(
            &findings,
            &scores,
            &targets,
            None,
            Some(&BootstrapConfig::default()),
        );
        assert_eq!(e.images, 4);
        assert_eq!(e.findings[0].auc, Some(1.0));
        assert_eq!(e.findings[1].auc, None);
        assert_eq!(e.findings[1].auc_text(), NOT_AVAILABLE);
        assert_eq!(e.findings[1].roc, None);
        assert_eq!(e.findings[2].auc, Some(0.0));
        assert_eq!(e.with_auc, 2);
        assert_eq!(e.mean_auc, Some(0.5));
        assert_eq!(e.above_chance, 1);
        assert!(e.findings.iter().filter_map(|f| f.auc).all(f64::is_finite));
    }

    #[test]
    fn a_mask_leaves_unknown_labels_out() {
        let findings = [Output::Finding(Finding::Edema)];
        // Without the mask the last image (an uncertain label read as 0) would spoil a perfect
        // ranking.
        let scores = [0.1, 0.9, 0.95];
        let targets = [0., 1., 0.];
        assert_eq!(
            evaluate(&findings, &scores, &targets, None, None).findings[0].auc,
            Some(0.5)
        );
        let mask = [1., 1., 0.];
        let e = evaluate(&findings, &scores, &targets, Some(&mask), None);
        assert_eq!(e.findings[0].auc, Some(1.0));
        assert_eq!((e.findings[0].positives, e.findings[0].negatives), (1, 1));
    }
}
