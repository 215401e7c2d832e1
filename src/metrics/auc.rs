//! The area under the ROC curve, exactly: the Mann–Whitney U statistic divided by
//! `positives × negatives`, with tied scores given their mid-rank, so a tie between a positive
//! and a negative counts one half. This equals the trapezoidal area under [`roc_curve`]
//! (`super::roc`) and scikit-learn's `roc_auc_score`.

use super::TieGroups;

/// The AUC of `scores` for the binary `labels` (`true` = positive), or `None` when there are no
/// positives or no negatives: the AUC is then undefined, not 0.5.
///
/// Scores are ordered with [`f32::total_cmp`], so a NaN score ranks above every number instead
/// of breaking the sort.
///
/// # Panics
/// If `scores` and `labels` differ in length.
#[must_use]
pub fn auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let tied = TieGroups::new(scores, labels)?;
    // Sum of the positives' ranks (1-based), ties at their mid-rank.
    let (mut rank_sum, mut below) = (0.0_f64, 0usize);
    for (_, pos, neg) in &tied.groups {
        let size = pos + neg;
        let mid_rank = (2 * below + size + 1) as f64 / 2.0;
        rank_sum += mid_rank * *pos as f64;
        below += size;
    }
    let p = tied.positives as f64;
    let u = rank_sum - p * (p + 1.0) / 2.0;
    Some(u / (p * tied.negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverted_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
    }

    #[test]
    fn all_scores_tied_is_one_half() {
        assert_eq!(
            auc(&[0.5; 6], &[true, false, true, false, false, true]),
            Some(0.5)
        );
    }

    #[test]
    fn a_hand_worked_case_with_a_tie_across_classes() {
        // Positives 0.4, 0.8; negatives 0.1, 0.4, 0.35. Pairs (pos > neg):
        // 0.8 beats all three (3); 0.4 beats 0.1 and 0.35 (2) and ties 0.4 (½). 5.5 of 6.
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4];
        let labels = [false, true, false, true, false];
        let expected = 5.5 / 6.0;
        assert!((auc(&scores, &labels).unwrap() - expected).abs() < 1e-15);
    }

    #[test]
    fn one_class_only_is_undefined_not_a_number() {
        assert_eq!(auc(&[0.1, 0.9], &[true, true]), None);
        assert_eq!(auc(&[0.1, 0.9], &[false, false]), None);
        assert_eq!(auc(&[], &[]), None);
    }

    #[test]
    fn agrees_with_counting_every_pair() {
        // Brute force over all positive-negative pairs, on scores with many ties.
        let mut rng = crate::rng::SplitMix64::new(7);
        let scores: Vec<f32> = (0..300).map(|_| rng.below(20) as f32 / 20.0).collect();
        let labels: Vec<bool> = (0..300).map(|_| rng.below(3) == 0).collect();
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, si) in scores.iter().enumerate() {
            for (j, sj) in scores.iter().enumerate() {
                if labels[i] && !labels[j] {
                    pairs += 1.0;
                    wins += if si > sj {
                        1.0
                    } else if si == sj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((auc(&scores, &labels).unwrap() - wins / pairs).abs() < 1e-12);
    }
}
