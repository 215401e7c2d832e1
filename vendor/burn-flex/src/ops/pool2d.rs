//! 2D max and average pooling of f32 and f64 NCHW tensors (CXR Lab patch).
//!
//! flex pools in 2D through its 3D kernels, which work out each output's window (three
//! `valid_range` calls with divisions) for every output element, track the max's index even
//! when nobody asked for it, and zero their outputs on the calling thread first. DenseNet's
//! stem max pool and its transition average pools took ~10 % of inference time at 224² that
//! way. Here the windows are worked out once per output row and once per output column, and a
//! plane is pooled by plain loops over them, one or more planes per task. The results are
//! flex's own, element for element: the same windows (`pool.rs`'s range functions), the same
//! NaN rule (a NaN wins, the last one's index is reported) and the first maximum's index on
//! ties, the same divisors.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use burn_backend::DType;
use burn_std::{Bytes, Shape};

use crate::ops::kernel_float::{KernelFloat, filled_in_chunks, tensor};
use crate::ops::pool::{
    padded_len_avgpool, pool_output_size, valid_range_avgpool, valid_range_maxpool,
};
use crate::{FlexTensor, Layout};

/// Output elements per task, at least: small planes (DenseNet's late ones) go several to a
/// task.
const GRAIN: usize = 16 * 1024;

/// Whether the kernels here take a tensor of this type.
pub(crate) fn handles(x: &FlexTensor) -> bool {
    matches!(x.dtype(), DType::F32 | DType::F64)
}

/// A pooling's geometry along one axis, and the taps (kernel positions) that fall inside the
/// input for each output position.
struct Axis {
    input: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    taps: Vec<Range<usize>>,
}

impl Axis {
    fn output_len(&self) -> usize {
        self.taps.len()
    }

    /// Input position of tap `k` for output position `out` (the tap is valid: no underflow).
    fn at(&self, out: usize, k: usize) -> usize {
        out * self.stride + k * self.dilation - self.padding
    }
}

/// The geometry of a tensor `[batch, channels, height, width]` and its output planes.
struct Planes {
    count: usize,
    rows: Axis,
    columns: Axis,
}

impl Planes {
    fn in_plane(&self) -> usize {
        self.rows.input * self.columns.input
    }

    fn out_plane(&self) -> usize {
        self.rows.output_len() * self.columns.output_len()
    }

    /// Input plane `p` of `x`.
    fn input<'a, T>(&self, x: &'a [T], p: usize) -> &'a [T] {
        &x[p * self.in_plane()..][..self.in_plane()]
    }

    fn output_shape(&self, x: &Shape) -> Shape {
        Shape::new([
            x[0],
            x[1],
            self.rows.output_len(),
            self.columns.output_len(),
        ])
    }
}

fn planes(
    x: &Shape,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
    taps: impl Fn(usize, usize, usize, usize, usize, usize) -> (usize, usize),
) -> Planes {
    let axis = |d: usize| {
        let input = x[2 + d];
        let outputs = pool_output_size(
            input,
            kernel[d],
            padding[d],
            stride[d],
            dilation[d],
            ceil_mode,
        );
        Axis {
            input,
            stride: stride[d],
            padding: padding[d],
            dilation: dilation[d],
            taps: (0..outputs)
                .map(|o| {
                    let (start, end) =
                        taps(o, kernel[d], stride[d], padding[d], dilation[d], input);
                    start..end
                })
                .collect(),
        }
    };
    Planes {
        count: x[0] * x[1],
        rows: axis(0),
        columns: axis(1),
    }
}

/// Whole planes per task so that a task has about [`GRAIN`] outputs.
fn planes_per_task(out_plane: usize) -> usize {
    (GRAIN / out_plane.max(1)).max(1)
}

// ---------------------------------------------------------------------------------------------
// Max pool
// ---------------------------------------------------------------------------------------------

/// `max_pool2d`, and its indices (flat positions in the input plane) when `with_indices`.
pub(crate) fn max_pool2d(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
    with_indices: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let geometry = planes(
        &shape,
        kernel,
        stride,
        padding,
        dilation,
        ceil_mode,
        valid_range_maxpool,
    );
    let out_shape = geometry.output_shape(&shape);
    let (values, indices) = match x.dtype() {
        DType::F32 => max_typed::<f32>(x.storage(), &geometry, with_indices, &out_shape),
        DType::F64 => max_typed::<f64>(x.storage(), &geometry, with_indices, &out_shape),
        dtype => panic!("max_pool2d: unsupported dtype {dtype:?}"),
    };
    let indices = indices.map(|indices| {
        FlexTensor::new(
            Bytes::from_elems(indices),
            Layout::contiguous(out_shape.clone()),
            DType::I64,
        )
    });
    (values, indices)
}

fn max_typed<T: KernelFloat + PartialOrd>(
    x: &[T],
    geometry: &Planes,
    with_indices: bool,
    shape: &Shape,
) -> (FlexTensor, Option<Vec<i64>>) {
    let out_plane = geometry.out_plane();
    let len = geometry.count * out_plane;
    let per_task = planes_per_task(out_plane);
    if !with_indices {
        let values = filled_in_chunks(len, out_plane * per_task, 1, |task, out| {
            let mut line_max = Vec::new();
            for (p, out) in out.chunks_mut(out_plane.max(1)).enumerate() {
                let plane = geometry.input(x, task * per_task + p);
                max_plane_values(plane, geometry, out, &mut line_max);
            }
        });
        return (tensor(values, shape.clone()), None);
    }
    let mut values = vec![T::ZERO; len];
    let mut indices = vec![0i64; len];
    let task = |(task, (out, idx)): (usize, (&mut [T], &mut [i64]))| {
        let chunks = out.chunks_mut(out_plane.max(1));
        for (p, (out, idx)) in chunks.zip(idx.chunks_mut(out_plane.max(1))).enumerate() {
            let plane = geometry.input(x, task * per_task + p);
            max_plane(plane, geometry, out, idx);
        }
    };
    let chunk = (out_plane * per_task).max(1);
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        values
            .par_chunks_mut(chunk)
            .zip(indices.par_chunks_mut(chunk))
            .enumerate()
            .for_each(task);
    }
    #[cfg(not(feature = "rayon"))]
    values
        .chunks_mut(chunk)
        .zip(indices.chunks_mut(chunk))
        .enumerate()
        .for_each(task);
    (tensor(values, shape.clone()), Some(indices))
}

/// Max over each window of one plane into `out`, in two passes per output row: the max down
/// the window's rows for every column of the input (`line_max`, whole lines at a time), then
/// across each window's columns of that. Same values as [`max_plane`] (which takes the taps
/// one by one, in row-major order, and is kept for the indices): NaN if the window has one,
/// −∞ if it is empty; of maxima that compare equal (0 and −0) it may keep another one.
fn max_plane_values<T: KernelFloat + PartialOrd>(
    plane: &[T],
    geometry: &Planes,
    out: &mut [T],
    line_max: &mut Vec<T>,
) {
    let (rows, columns) = (&geometry.rows, &geometry.columns);
    let width = columns.input;
    let out_width = columns.output_len();
    let neg_inf = T::from_f64(f64::NEG_INFINITY);
    // The larger, or a NaN that either holds (once the running max is NaN it stays NaN).
    #[allow(clippy::eq_op)]
    let pick = |best: T, value: T| {
        if value > best || value != value {
            value
        } else {
            best
        }
    };
    for (oh, row_taps) in rows.taps.iter().enumerate() {
        line_max.clear();
        line_max.resize(width, neg_inf);
        for kh in row_taps.clone() {
            let line = &plane[rows.at(oh, kh) * width..][..width];
            for (best, &value) in line_max.iter_mut().zip(line) {
                *best = pick(*best, value);
            }
        }
        let out_row = &mut out[oh * out_width..][..out_width];
        for (ow, (slot, column_taps)) in out_row.iter_mut().zip(&columns.taps).enumerate() {
            *slot = column_taps
                .clone()
                .map(|kw| line_max[columns.at(ow, kw)])
                .fold(neg_inf, pick);
        }
    }
}

/// Max over each window of one plane into `out`, and the max's position into `indices`. An
/// empty window gives −∞ and index −1, as flex's kernel does.
///
/// The max is taken without branches (`max` and a NaN flag): on real data which tap wins is
/// unpredictable, and a mispredicted branch per tap cost more than the rest of the loop. The
/// index is found afterwards as flex's loop would have left it: the first tap
/// holding the max, or the last NaN.
fn max_plane<T: KernelFloat + PartialOrd>(
    plane: &[T],
    geometry: &Planes,
    out: &mut [T],
    indices: &mut [i64],
) {
    let (rows, columns) = (&geometry.rows, &geometry.columns);
    let width = columns.input;
    let out_width = columns.output_len();
    let neg_inf = T::from_f64(f64::NEG_INFINITY);
    #[allow(clippy::eq_op)]
    let is_nan = |v: T| v != v;
    for (oh, row_taps) in rows.taps.iter().enumerate() {
        let lines = || {
            row_taps.clone().map(|kh| {
                let ih = rows.at(oh, kh);
                (ih * width, &plane[ih * width..][..width])
            })
        };
        for (ow, column_taps) in columns.taps.iter().enumerate() {
            let columns_at = || column_taps.clone().map(|kw| columns.at(ow, kw));
            let (mut best, mut nan) = (neg_inf, false);
            for (_, line) in lines() {
                for iw in columns_at() {
                    let value = line[iw];
                    best = if value > best { value } else { best };
                    nan |= is_nan(value);
                }
            }
            let mut at = -1i64;
            'found: for (start, line) in lines() {
                for iw in columns_at() {
                    let value = line[iw];
                    if nan && is_nan(value) {
                        at = (start + iw) as i64;
                    } else if !nan && value >= best {
                        at = (start + iw) as i64;
                        break 'found;
                    }
                }
            }
            if at >= 0 {
                best = plane[at as usize];
            }
            out[oh * out_width + ow] = best;
            indices[oh * out_width + ow] = at;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Average pool
// ---------------------------------------------------------------------------------------------

/// `avg_pool2d`: the window's sum over its taps inside the input, divided by the window's size
/// within the padded input (`count_include_pad`) or by its taps inside the input.
pub(crate) fn avg_pool2d(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    count_include_pad: bool,
    ceil_mode: bool,
) -> FlexTensor {
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let geometry = planes(
        &shape,
        kernel,
        stride,
        padding,
        [1, 1],
        ceil_mode,
        |o, k, s, p, _, input| valid_range_avgpool(o, k, s, p, input),
    );
    // How many positions each window divides by, along each axis.
    let divisors = |d: usize, axis: &Axis| -> Vec<usize> {
        (0..axis.output_len())
            .map(|o| {
                if count_include_pad {
                    padded_len_avgpool(o, kernel[d], stride[d], padding[d], axis.input)
                } else {
                    axis.taps[o].len()
                }
            })
            .collect()
    };
    let (row_div, column_div) = (divisors(0, &geometry.rows), divisors(1, &geometry.columns));
    let divisors = (row_div.as_slice(), column_div.as_slice());
    let out_shape = geometry.output_shape(&shape);
    match x.dtype() {
        DType::F32 => avg_typed::<f32>(x.storage(), &geometry, divisors, out_shape),
        DType::F64 => avg_typed::<f64>(x.storage(), &geometry, divisors, out_shape),
        dtype => panic!("avg_pool2d: unsupported dtype {dtype:?}"),
    }
}

fn avg_typed<T: KernelFloat + core::ops::Div<Output = T>>(
    x: &[T],
    geometry: &Planes,
    (row_div, column_div): (&[usize], &[usize]),
    shape: Shape,
) -> FlexTensor {
    let out_plane = geometry.out_plane();
    let (rows, columns) = (&geometry.rows, &geometry.columns);
    let (width, out_width) = (columns.input, columns.output_len());
    let per_task = planes_per_task(out_plane);
    // 2x2 windows at stride 2, each whole inside the plane (DenseNet's transitions): each output
    // is the sum of its window in the order the general loop takes, divided by 4, so the same
    // value, without that loop's ranges per window (in the browser ~5x slower).
    let halves = |axis: &Axis| {
        axis.stride == 2
            && axis.padding == 0
            && axis.dilation == 1
            && axis.taps.iter().all(|taps| *taps == (0..2))
    };
    let halving = halves(rows) && halves(columns);
    let values = filled_in_chunks(
        geometry.count * out_plane,
        out_plane * per_task,
        1,
        |task, out| {
            for (p, out) in out.chunks_mut(out_plane.max(1)).enumerate() {
                let plane = geometry.input(x, task * per_task + p);
                if halving {
                    let four = T::from_f64(4.0);
                    for (oh, out) in out.chunks_exact_mut(out_width).enumerate() {
                        let top = plane[2 * oh * width..][..width].chunks_exact(2);
                        let bottom = plane[(2 * oh + 1) * width..][..width].chunks_exact(2);
                        for ((slot, t), b) in out.iter_mut().zip(top).zip(bottom) {
                            *slot = (T::ZERO + t[0] + t[1] + b[0] + b[1]) / four;
                        }
                    }
                    continue;
                }
                for (oh, row_taps) in rows.taps.iter().enumerate() {
                    for (ow, column_taps) in columns.taps.iter().enumerate() {
                        let mut sum = T::ZERO;
                        for kh in row_taps.clone() {
                            let line = &plane[rows.at(oh, kh) * width..][..width];
                            for kw in column_taps.clone() {
                                sum = sum + line[columns.at(ow, kw)];
                            }
                        }
                        let divisor = (row_div[oh] * column_div[ow]).max(1);
                        out[oh * out_width + ow] = sum / T::from_f64(divisor as f64);
                    }
                }
            }
        },
    );
    tensor(values, shape)
}
