//! Classification of dropped images by a trained or loaded model: probabilities per output and
//! a Grad-CAM overlay, each image prepared with the one [`preprocess`] function, without
//! augmentation. Bad files get their own message; the others are classified.

use std::io::Cursor;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::predict::input_tensor;
use super::preprocess::{InputSpec, preprocess};
use crate::data::{Output, decode_grey};
use crate::model::densenet::DenseNet;
use crate::model::grad_cam::{grad_cam, overlay_rgba};

/// How strongly the heatmap covers the image in the overlay.
const OVERLAY_ALPHA: f32 = 0.45;

/// Which output's Grad-CAM to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CamChoice {
    /// The output with the highest probability for each image.
    Top,
    /// This output index.
    Output(usize),
}

/// One image's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The file.
    pub name: String,
    /// Probability per output, in output order; empty when the image could not be read.
    pub probabilities: Vec<f32>,
    /// The output the heatmap is for.
    pub cam_output: Option<usize>,
    /// The image with the Grad-CAM heatmap over it, as PNG, at the model's input size.
    pub overlay_png: Option<Vec<u8>>,
    /// Why the image could not be classified, for the user.
    pub error: Option<String>,
}

/// Classifies `files` with `model` (any mode; run in inference mode here) on `device` (plain
/// or autodiff: Grad-CAM needs autodiff and makes its own).
pub async fn classify(
    model: &DenseNet,
    outputs: &[Output],
    input: &InputSpec,
    files: &[(String, Vec<u8>)],
    cam: CamChoice,
    device: &Device,
) -> Vec<Classification> {
    let inference = model.valid();
    let plain = device.clone().without_autodiff();
    let mut results = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let failed = |error: String| Classification {
            name: name.clone(),
            probabilities: Vec::new(),
            cam_output: None,
            overlay_png: None,
            error: Some(error),
        };
        let image = match decode_grey(name, bytes, input.side) {
            Ok(image) => image,
            Err(e) => {
                results.push(failed(e.to_string()));
                continue;
            }
        };
        let x = input_tensor(
            preprocess(&image.pixels, input.side, input),
            1,
            input,
            &plain,
        );
        let probabilities = match inference
            .forward_probabilities(x.clone())
            .into_data_async()
            .await
            .map_err(|e| format!("{e:?}"))
            .and_then(|d| d.try_into_vec::<f32>().map_err(|e| format!("{e:?}")))
        {
            Ok(p) => p,
            Err(e) => {
                results.push(failed(format!("the device failed: {e}")));
                continue;
            }
        };
        let cam_output = match cam {
            CamChoice::Output(i) if i < outputs.len() => i,
            _ => probabilities
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i),
        };
        let overlay = match grad_cam(&inference, x, cam_output, &plain.clone().autodiff()).await {
            Ok(cam) => overlay_rgba(
                &image.pixels,
                input.side,
                &cam.heatmap.upsample(input.side),
                OVERLAY_ALPHA,
            )
            .ok()
            .and_then(|rgba| png_rgba(&rgba, input.side)),
            Err(_) => None,
        };
        results.push(Classification {
            name: name.clone(),
            probabilities,
            cam_output: Some(cam_output),
            overlay_png: overlay,
            error: None,
        });
    }
    results
}

/// RGBA pixels as a PNG file.
fn png_rgba(rgba: &[u8], side: u32) -> Option<Vec<u8>> {
    let image = image::RgbaImage::from_raw(side, side, rgba.to_vec())?;
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use crate::data::Finding;
    use crate::model::densenet::DenseNetConfig;
    use crate::model::init::seeded_on;
    use crate::train::predict::predict;
    use crate::train::preprocess::Normalization;

    #[test]
    fn good_images_get_probabilities_and_an_overlay_bad_ones_a_message() {
        let device = cpu_device();
        let outputs = Output::findings(&[Finding::Effusion, Finding::Edema]);
        let model = seeded_on(1, &device, |cpu| {
            DenseNetConfig::new(2)
                .with_growth_rate(4)
                .with_block_config(vec![2, 2])
                .with_num_init_features(8)
                .with_bn_size(2)
                .init(cpu)
        });
        let input = InputSpec {
            side: 32,
            channels: 1,
            normalization: Normalization::Samplewise,
        };
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/images/0_normal"
        );
        let png = std::fs::read(format!("{dir}/00000002_000.png")).unwrap();
        let files = vec![
            ("a.png".to_owned(), png.clone()),
            ("broken.png".to_owned(), png[..100].to_vec()),
        ];
        let results = pollster::block_on(classify(
            &model,
            &outputs,
            &input,
            &files,
            CamChoice::Top,
            &device,
        ));
        assert_eq!(results.len(), 2);
        let good = &results[0];
        assert_eq!(good.error, None);
        assert_eq!(good.probabilities.len(), 2);
        // The same numbers as the batch prediction path on the same decoded image.
        let mut store = crate::data::ImageStore::new(32);
        store.push("a.png", &decode_grey("a.png", &png, 32).unwrap());
        let direct =
            pollster::block_on(predict(&model.valid(), &store, &[0], &input, 1, &device)).unwrap();
        assert_eq!(good.probabilities, direct);
        let top = if direct[0] >= direct[1] { 0 } else { 1 };
        assert_eq!(good.cam_output, Some(top));
        let overlay = image::load_from_memory(good.overlay_png.as_ref().unwrap()).unwrap();
        assert_eq!((overlay.width(), overlay.height()), (32, 32));
        let bad = &results[1];
        assert!(bad.probabilities.is_empty());
        assert!(
            bad.error.as_ref().unwrap().contains("broken.png"),
            "{bad:?}"
        );
    }
}
