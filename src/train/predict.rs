//! Probabilities for stored images, batch by batch, with the model in inference mode (batch
//! norm on its running statistics). Shared by validation, evaluation and classification; every
//! read is async, so it runs on WebGPU in the browser.

use burn::tensor::{Device, Tensor, TensorData};

use super::preprocess::{InputSpec, preprocess};
use crate::data::ImageStore;
use crate::model::densenet::DenseNet;

/// Why predictions could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// An image index past the store's end (a bug in the caller).
    #[error("image {0} is not in the store")]
    NoImage(usize),
    /// Reading results back from the device failed.
    #[error("could not read the results back from the device: {0}")]
    Read(String),
}

/// Stacks preprocessed images into a `[n, channels, side, side]` tensor on `device`.
pub fn input_tensor(images: Vec<f32>, n: usize, input: &InputSpec, device: &Device) -> Tensor<4> {
    let side = input.side as usize;
    Tensor::from_data(
        TensorData::new(images, [n, input.channels, side, side]),
        device,
    )
}

/// Probabilities, `images.len() × classes` row-major, for the stored images `images`.
///
/// `model` should be in inference mode (`model.valid()`); `device` is its (plain) device.
///
/// # Errors
/// [`PredictError`] if an index is past the store or the device read fails.
pub async fn predict(
    model: &DenseNet,
    store: &ImageStore,
    images: &[usize],
    input: &InputSpec,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<f32>, PredictError> {
    let mut out = Vec::new();
    for chunk in images.chunks(batch_size.max(1)) {
        let mut batch = Vec::with_capacity(chunk.len() * input.len());
        for i in chunk {
            let pixels = store.get(*i).ok_or(PredictError::NoImage(*i))?;
            batch.extend(preprocess(pixels, store.side(), input));
        }
        let x = input_tensor(batch, chunk.len(), input, device);
        let probabilities = model.forward_probabilities(x);
        let data = probabilities
            .into_data_async()
            .await
            .map_err(|e| PredictError::Read(format!("{e:?}")))?;
        out.extend(
            data.try_into_vec::<f32>()
                .map_err(|e| PredictError::Read(format!("{e:?}")))?,
        );
    }
    Ok(out)
}
