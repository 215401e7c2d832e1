//! The ROC curve at every distinct score: what scikit-learn's `roc_curve` gives with
//! `drop_intermediate=False`. Tied scores move the curve diagonally in one step, which is what
//! makes its trapezoidal area equal the tie-aware AUC ([`super::auc()`]).

use serde::{Deserialize, Serialize};

use super::TieGroups;

/// One point of the curve: calling scores `>= threshold` positive gives these rates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// False positive rate, `0..=1`.
    pub fpr: f64,
    /// True positive rate (sensitivity), `0..=1`.
    pub tpr: f64,
    /// The score threshold; `+∞` for the first point (nothing called positive).
    pub threshold: f64,
}

/// A ROC curve from (0,0) to (1,1), thresholds decreasing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// The points, first (0,0), last (1,1).
    pub points: Vec<RocPoint>,
}

impl RocCurve {
    /// The trapezoidal area under the curve.
    #[must_use]
    pub fn area(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum()
    }
}

/// The ROC curve of `scores` for `labels`, or `None` without both positives and negatives.
///
/// # Panics
/// If `scores` and `labels` differ in length.
#[must_use]
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Option<RocCurve> {
    let tied = TieGroups::new(scores, labels)?;
    let mut points = vec![RocPoint {
        fpr: 0.0,
        tpr: 0.0,
        threshold: f64::INFINITY,
    }];
    // Thresholds from the highest score down; a tie group moves the curve in one step.
    let (mut tp, mut fp) = (0usize, 0usize);
    for (score, pos, neg) in tied.groups.iter().rev() {
        tp += pos;
        fp += neg;
        points.push(RocPoint {
            fpr: fp as f64 / tied.negatives as f64,
            tpr: tp as f64 / tied.positives as f64,
            threshold: f64::from(*score),
        });
    }
    Some(RocCurve { points })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::auc;

    #[test]
    fn starts_at_the_origin_ends_at_one_one_and_never_goes_back() {
        let scores = [0.3, 0.7, 0.7, 0.1, 0.9, 0.5];
        let labels = [false, true, false, false, true, true];
        let curve = roc_curve(&scores, &labels).unwrap();
        let first = curve.points[0];
        let last = curve.points[curve.points.len() - 1];
        assert_eq!((first.fpr, first.tpr), (0.0, 0.0));
        assert_eq!((last.fpr, last.tpr), (1.0, 1.0));
        // One point per distinct score, plus the origin.
        assert_eq!(curve.points.len(), 6);
        for w in curve.points.windows(2) {
            assert!(w[1].fpr >= w[0].fpr && w[1].tpr >= w[0].tpr);
            assert!(w[1].threshold < w[0].threshold);
        }
        // The tie at 0.7 (one positive, one negative) is one diagonal step.
        let at = curve
            .points
            .iter()
            .find(|p| p.threshold == f64::from(0.7_f32))
            .unwrap();
        assert_eq!((at.fpr, at.tpr), (1.0 / 3.0, 2.0 / 3.0));
    }

    #[test]
    fn its_area_is_the_auc() {
        let mut rng = crate::rng::SplitMix64::new(3);
        let scores: Vec<f32> = (0..500).map(|_| rng.below(50) as f32 / 50.0).collect();
        let labels: Vec<bool> = scores.iter().map(|s| rng.unit() < f64::from(*s)).collect();
        let area = roc_curve(&scores, &labels).unwrap().area();
        assert!((area - auc(&scores, &labels).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn undefined_with_one_class() {
        assert_eq!(roc_curve(&[0.2, 0.4], &[true, true]), None);
    }
}
