//! Evaluation of a multi-label classifier, per finding: the ROC curve, the exact AUC, a seeded
//! bootstrap interval, and the summary the article reports (mean AUC, findings above chance).
//! Pure Rust over score and label slices: no burn, no DOM.
//!
//! - [`auc`]: the area under the ROC curve as the Mann–Whitney statistic (ties count half).
//! - [`roc`]: the ROC curve at every distinct threshold, from (0,0) to (1,1).
//! - [`bootstrap`]: a seeded, stratified percentile bootstrap interval for the AUC.
//! - [`evaluation`]: all findings of a split at once, with "n/a" where a finding lacks positive
//!   or negative examples.

pub mod auc;
pub mod bootstrap;
pub mod evaluation;
pub mod roc;

pub use auc::auc;

/// Scores grouped by value: what both the AUC (mid-ranks) and the ROC curve (one point per
/// distinct threshold) are computed from.
pub(crate) struct TieGroups {
    /// Positive labels in all.
    positives: usize,
    /// Negative labels in all.
    negatives: usize,
    /// `(score, positives, negatives)` per distinct score, ascending ([`f32::total_cmp`], so a
    /// NaN score ranks above every number).
    groups: Vec<(f32, usize, usize)>,
}

impl TieGroups {
    /// The groups of `scores` for `labels`, or `None` without both positives and negatives.
    ///
    /// # Panics
    /// If `scores` and `labels` differ in length.
    fn new(scores: &[f32], labels: &[bool]) -> Option<Self> {
        assert_eq!(scores.len(), labels.len(), "one label per score");
        let positives = labels.iter().filter(|l| **l).count();
        let negatives = labels.len() - positives;
        if positives == 0 || negatives == 0 {
            return None;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_unstable_by(|a, b| scores[*a].total_cmp(&scores[*b]));
        let mut groups: Vec<(f32, usize, usize)> = Vec::new();
        for i in order {
            let (pos, neg) = if labels[i] { (1, 0) } else { (0, 1) };
            match groups.last_mut() {
                Some(last) if last.0.total_cmp(&scores[i]).is_eq() => {
                    last.1 += pos;
                    last.2 += neg;
                }
                _ => groups.push((scores[i], pos, neg)),
            }
        }
        Some(TieGroups {
            positives,
            negatives,
            groups,
        })
    }
}
pub use bootstrap::{BootstrapConfig, Interval, bootstrap_auc};
pub use evaluation::{Evaluation, FindingEvaluation, evaluate};
pub use roc::{RocCurve, RocPoint, roc_curve};

#[cfg(test)]
mod sklearn_goldens {
    //! Against scikit-learn 1.7's `roc_auc_score` and `roc_curve(drop_intermediate=False)` on
    //! seeded random points (tests/fixtures/metrics/make_goldens.py made the fixture).

    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        scores: Vec<f32>,
        labels: Vec<bool>,
        auc: f64,
        fpr: Vec<f64>,
        tpr: Vec<f64>,
        thresholds: Vec<Option<f64>>,
    }

    #[derive(serde::Deserialize)]
    struct Goldens {
        cases: Vec<Case>,
    }

    #[test]
    fn auc_and_roc_match_scikit_learn() {
        let goldens: Goldens = serde_json::from_str(include_str!(
            "../../tests/fixtures/metrics/sklearn_goldens.json"
        ))
        .unwrap();
        assert_eq!(goldens.cases.len(), 3);
        for case in &goldens.cases {
            let ours = auc(&case.scores, &case.labels).unwrap();
            // Both sums are exact up to float rounding of a few hundred terms.
            assert!(
                (ours - case.auc).abs() < 1e-12,
                "{}: {ours} vs {}",
                case.name,
                case.auc
            );
            let curve = roc_curve(&case.scores, &case.labels).unwrap();
            assert_eq!(curve.points.len(), case.fpr.len(), "{}", case.name);
            for (i, p) in curve.points.iter().enumerate() {
                assert!(
                    (p.fpr - case.fpr[i]).abs() < 1e-12,
                    "{} fpr[{i}]",
                    case.name
                );
                assert!(
                    (p.tpr - case.tpr[i]).abs() < 1e-12,
                    "{} tpr[{i}]",
                    case.name
                );
                match case.thresholds[i] {
                    None => assert_eq!(p.threshold, f64::INFINITY),
                    // serde_json's default float parsing may be one ulp off.
                    Some(t) => assert!(
                        (p.threshold - t).abs() <= 1e-12 * t.abs().max(1.0),
                        "{} threshold[{i}]",
                        case.name
                    ),
                }
            }
        }
    }
}
