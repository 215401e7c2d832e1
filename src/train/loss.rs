//! Binary cross-entropy on logits, optionally weighted per class.
//!
//! burn's `BinaryCrossEntropyLoss` takes integer targets and no per-element weights; the
//! class-weighted loss of the seed article needs both a weight for positives and one for
//! negatives per finding, so the loss is written here, in its numerically stable form:
//! `max(x, 0) - x·y + log(1 + exp(-|x|))`.

use burn::tensor::Tensor;
use burn::tensor::activation::softplus;

/// Mean binary cross-entropy of `logits` against `targets` in {0, 1}.
///
/// With `class_weights = Some((w_pos, w_neg))`, each element's loss is multiplied by its class's
/// `w_pos` where the target is 1 and `w_neg` where it is 0. With `mask`, elements where the mask
/// is 0 (unknown labels) add nothing; the mean is still over all elements, so a batch's loss does
/// not jump with its number of unknowns.
///
/// # Shapes
/// - `logits`, `targets`, `mask`: `[batch, classes]`
/// - `w_pos`, `w_neg`: `[classes]`
/// - output: `[1]`
pub fn binary_cross_entropy_with_logits(
    logits: Tensor<2>,
    targets: Tensor<2>,
    class_weights: Option<(Tensor<1>, Tensor<1>)>,
    mask: Option<Tensor<2>>,
) -> Tensor<1> {
    // log(1 + exp(-|x|)) = softplus(-|x|), stable for large |x|.
    let per_element = logits.clone().clamp_min(0.0) - logits.clone() * targets.clone()
        + softplus(logits.abs().neg(), 1.0);
    let per_element = match class_weights {
        Some((w_pos, w_neg)) => {
            let w_pos = w_pos.unsqueeze_dim::<2>(0);
            let w_neg = w_neg.unsqueeze_dim::<2>(0);
            let weights = targets.clone() * w_pos + (targets.neg() + 1.0) * w_neg;
            per_element * weights
        }
        None => per_element,
    };
    match mask {
        Some(mask) => (per_element * mask).mean(),
        None => per_element.mean(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use burn::tensor::TensorData;

    fn bce(x: f64, y: f64) -> f64 {
        let p = 1.0 / (1.0 + (-x).exp());
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    }

    #[test]
    fn matches_the_textbook_formula() {
        let device = cpu_device();
        let xs = [[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]];
        let ys = [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]];
        let logits = Tensor::<2>::from_data(TensorData::from(xs), &device);
        let targets = Tensor::<2>::from_data(TensorData::from(ys), &device);
        let got: f32 = binary_cross_entropy_with_logits(logits, targets, None, None).into_scalar();
        let mut expected = 0.0;
        for (row_x, row_y) in xs.iter().zip(ys.iter()) {
            for (&x, &y) in row_x.iter().zip(row_y) {
                expected += bce(f64::from(x as f32), f64::from(y as f32));
            }
        }
        expected /= 6.0;
        assert!(
            (f64::from(got) - expected).abs() < 1e-5,
            "{got} vs {expected}"
        );
    }

    #[test]
    fn class_weights_scale_positives_and_negatives() {
        let device = cpu_device();
        let xs = [[1.5, -0.5], [0.25, 2.0]];
        let ys = [[1.0, 0.0], [0.0, 1.0]];
        let (w_pos, w_neg) = ([0.8, 0.3], [0.2, 0.7]);
        let got: f32 = binary_cross_entropy_with_logits(
            Tensor::from_data(TensorData::from(xs), &device),
            Tensor::from_data(TensorData::from(ys), &device),
            Some((
                Tensor::from_data(TensorData::from(w_pos), &device),
                Tensor::from_data(TensorData::from(w_neg), &device),
            )),
            None,
        )
        .into_scalar();
        let mut expected = 0.0;
        for r in 0..2 {
            for c in 0..2 {
                let y = f64::from(ys[r][c] as f32);
                let w = if y > 0.5 { w_pos[c] } else { w_neg[c] };
                expected += f64::from(w as f32) * bce(f64::from(xs[r][c] as f32), y);
            }
        }
        expected /= 4.0;
        assert!(
            (f64::from(got) - expected).abs() < 1e-5,
            "{got} vs {expected}"
        );
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let device = cpu_device();
        let logits = Tensor::<2>::from_data(TensorData::from([[80.0, -80.0]]), &device);
        let targets = Tensor::<2>::from_data(TensorData::from([[0.0, 1.0]]), &device);
        let got: f32 = binary_cross_entropy_with_logits(logits, targets, None, None).into_scalar();
        assert!((got - 80.0).abs() < 1e-3, "{got}");
    }

    #[test]
    fn a_mask_removes_unknown_labels_from_the_sum_not_the_count() {
        let device = cpu_device();
        let xs = [[1.5, -0.5], [0.25, 2.0]];
        let ys = [[1.0, 0.0], [0.0, 1.0]];
        let mask = [[1.0, 0.0], [1.0, 1.0]];
        let got: f32 = binary_cross_entropy_with_logits(
            Tensor::from_data(TensorData::from(xs), &device),
            Tensor::from_data(TensorData::from(ys), &device),
            None,
            Some(Tensor::from_data(TensorData::from(mask), &device)),
        )
        .into_scalar();
        let mut expected = 0.0;
        for r in 0..2 {
            for c in 0..2 {
                expected += mask[r][c] * bce(xs[r][c], ys[r][c]);
            }
        }
        expected /= 4.0;
        assert!(
            (f64::from(got) - expected).abs() < 1e-6,
            "{got} vs {expected}"
        );
    }
}
