//! The examples of one side of the split: which stored images, their multi-label targets over
//! the chosen findings, and which labels are known. Built from a loaded
//! [`Dataset`](crate::data::Dataset); what training, validation and evaluation iterate over.

use crate::data::split::split_by_patient;
use crate::data::{Dataset, LabelRow, Output, PatientSplit, Split, SplitConfig};

/// Examples of one side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Examples {
    /// Store index of each example.
    pub images: Vec<usize>,
    /// `images.len() × outputs` targets, row-major: 1 present, 0 absent or unknown.
    pub targets: Vec<f32>,
    /// Same shape: 1 where the label is known, 0 where it is not (left out of loss and AUC).
    pub mask: Vec<f32>,
    /// Normal (`false`) or abnormal (`true`), where the labels say.
    pub abnormal: Vec<Option<bool>>,
    /// Number of outputs (columns).
    pub outputs: usize,
}

impl Examples {
    /// Number of examples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    fn push(&mut self, image: usize, row: &LabelRow, outputs: &[Output]) {
        self.images.push(image);
        for output in outputs {
            let label = output.of(row);
            self.targets
                .push(if label == Some(true) { 1.0 } else { 0.0 });
            self.mask.push(if label.is_some() { 1.0 } else { 0.0 });
        }
        self.abnormal.push(row.is_abnormal());
    }

    /// Per-finding class weights from these examples, as in CheXNet: `w_pos` = the fraction of
    /// negatives, `w_neg` = the fraction of positives (among known labels), so that both classes
    /// weigh the same in the loss. A finding without any known label gets (1, 1).
    #[must_use]
    pub fn class_weights(&self) -> (Vec<f32>, Vec<f32>) {
        let k = self.outputs;
        (0..k)
            .map(|j| {
                let (mut pos, mut known) = (0.0_f32, 0.0_f32);
                for i in 0..self.len() {
                    known += self.mask[i * k + j];
                    pos += self.mask[i * k + j] * self.targets[i * k + j];
                }
                if known == 0.0 {
                    (1.0, 1.0)
                } else {
                    ((known - pos) / known, pos / known)
                }
            })
            .unzip()
    }
}

/// Train, validation and test examples of a dataset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitExamples {
    /// Training side.
    pub train: Examples,
    /// Validation side.
    pub validation: Examples,
    /// Test side.
    pub test: Examples,
}

impl SplitExamples {
    /// One side.
    #[must_use]
    pub fn side(&self, split: Split) -> &Examples {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }
}

/// Splits the labelled images of `dataset` by patient with `config` and lays out their targets
/// over `outputs` (in that order: the model's outputs).
///
/// # Errors
/// A sentence for the user when the split cannot be made.
pub fn split_examples(
    dataset: &Dataset,
    config: &SplitConfig,
    outputs: &[Output],
) -> Result<SplitExamples, String> {
    let labelled: Vec<(usize, &LabelRow)> = dataset.labelled().collect();
    if labelled.is_empty() {
        return Err("no labelled images".to_owned());
    }
    let rows: Vec<LabelRow> = labelled.iter().map(|(_, r)| (*r).clone()).collect();
    let split: PatientSplit = split_by_patient(&rows, config).map_err(|e| e.to_string())?;
    let mut out = SplitExamples::default();
    for side in [&mut out.train, &mut out.validation, &mut out.test] {
        side.outputs = outputs.len();
    }
    for (r, (image, row)) in labelled.iter().enumerate() {
        let side = match split.side(r) {
            Some(Split::Train) => &mut out.train,
            Some(Split::Validation) => &mut out.validation,
            Some(Split::Test) => &mut out.test,
            None => continue,
        };
        side.push(*image, row, outputs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_weights_are_the_other_class_fraction() {
        // 4 examples × 2 findings; the second finding has one unknown label.
        let examples = Examples {
            images: vec![0, 1, 2, 3],
            targets: vec![1., 0., 0., 1., 0., 0., 0., 1.],
            mask: vec![1., 1., 1., 1., 1., 0., 1., 1.],
            abnormal: vec![None; 4],
            outputs: 2,
        };
        let (w_pos, w_neg) = examples.class_weights();
        // Finding 0: 1 positive of 4 → w_pos 3/4, w_neg 1/4.
        // Finding 1: 2 positives of 3 known → w_pos 1/3, w_neg 2/3.
        assert_eq!(w_pos, vec![0.75, 1.0 / 3.0]);
        assert_eq!(w_neg, vec![0.25, 2.0 / 3.0]);
    }
}
