//! A seeded percentile bootstrap interval for the AUC.
//!
//! Stratified, as pROC's `ci.auc` does by default: each resample draws the positives from the
//! positives and the negatives from the negatives, with replacement, so every resample has both
//! classes (and the AUC is always defined) and the class balance stays that of the data.

use serde::{Deserialize, Serialize};

use super::auc::auc;
use crate::rng::SplitMix64;

/// How to bootstrap.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of resamples; 1,000 by default (pROC uses 2,000; 1,000 keeps the browser quick).
    pub resamples: usize,
    /// Coverage of the interval, e.g. 0.95.
    pub level: f64,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            resamples: 1000,
            level: 0.95,
            seed: 0,
        }
    }
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether `x` lies in the interval, bounds included.
    #[must_use]
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// `high - low`.
    #[must_use]
    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// The bootstrap interval of the AUC of `scores` for `labels`, or `None` without both classes
/// or with no resamples.
///
/// # Panics
/// If `scores` and `labels` differ in length.
#[must_use]
pub fn bootstrap_auc(
    scores: &[f32],
    labels: &[bool],
    config: &BootstrapConfig,
) -> Option<Interval> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let (pos, neg): (Vec<f32>, Vec<f32>) = {
        let pos = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| **l)
            .map(|(s, _)| *s)
            .collect();
        let neg = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| !**l)
            .map(|(s, _)| *s)
            .collect();
        (pos, neg)
    };
    if pos.is_empty() || neg.is_empty() || config.resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(config.seed);
    let mut sample_scores = Vec::with_capacity(scores.len());
    let sample_labels: Vec<bool> = std::iter::repeat_n(true, pos.len())
        .chain(std::iter::repeat_n(false, neg.len()))
        .collect();
    let mut aucs: Vec<f64> = (0..config.resamples)
        .filter_map(|_| {
            sample_scores.clear();
            for class in [&pos, &neg] {
                sample_scores.extend(
                    (0..class.len()).map(|_| class[rng.below(class.len() as u64) as usize]),
                );
            }
            auc(&sample_scores, &sample_labels)
        })
        .collect();
    aucs.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - config.level.clamp(0.0, 1.0)) / 2.0;
    Some(Interval {
        low: quantile(&aucs, tail),
        high: quantile(&aucs, 1.0 - tail),
    })
}

/// The `q` quantile of sorted `values`, interpolated linearly between order statistics (numpy's
/// default `linear` method).
fn quantile(values: &[f64], q: f64) -> f64 {
    let at = q * (values.len() - 1) as f64;
    let below = at.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    values[below] + (values[above] - values[below]) * (at - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Noisy scores: positives centred higher than negatives.
    fn noisy(n: usize, seed: u64) -> (Vec<f32>, Vec<bool>) {
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let scores = labels
            .iter()
            .map(|l| (rng.normal() + if *l { 0.8 } else { 0.0 }) as f32)
            .collect();
        (scores, labels)
    }

    #[test]
    fn the_interval_contains_the_estimate_and_narrows_as_n_grows() {
        let config = BootstrapConfig::default();
        let mut widths = Vec::new();
        for n in [60, 600, 6000] {
            let (scores, labels) = noisy(n, 11);
            let estimate = auc(&scores, &labels).unwrap();
            let ci = bootstrap_auc(&scores, &labels, &config).unwrap();
            assert!(ci.contains(estimate), "n={n}: {estimate} outside {ci:?}");
            assert!(ci.low > 0.5, "n={n}: a real signal is above chance: {ci:?}");
            widths.push(ci.width());
        }
        assert!(widths[0] > widths[1] && widths[1] > widths[2], "{widths:?}");
        // Width ~ 1/sqrt(n): ten times the data, about a third of the width.
        assert!(
            widths[1] / widths[2] > 2.0 && widths[1] / widths[2] < 4.5,
            "{widths:?}"
        );
    }

    #[test]
    fn seeded_and_reproducible() {
        let (scores, labels) = noisy(200, 5);
        let config = BootstrapConfig::default();
        assert_eq!(
            bootstrap_auc(&scores, &labels, &config),
            bootstrap_auc(&scores, &labels, &config)
        );
        let other = BootstrapConfig { seed: 1, ..config };
        assert_ne!(
            bootstrap_auc(&scores, &labels, &config),
            bootstrap_auc(&scores, &labels, &other)
        );
    }

    #[test]
    fn quantile_interpolates_as_numpy() {
        // numpy.quantile([1, 2, 3, 4], 0.25) == 1.75
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), 4.0);
    }

    #[test]
    fn undefined_with_one_class() {
        assert_eq!(
            bootstrap_auc(&[0.1, 0.2], &[false, false], &BootstrapConfig::default()),
            None
        );
    }
}
