//! What the CXR Lab kernels (`conv_nchw`, `batch_norm`) share: the float types they run in,
//! and running a kernel in its tensors' type (CXR Lab patch).

use alloc::vec::Vec;
use core::mem::MaybeUninit;

use burn_backend::DType;
use burn_std::{Bytes, Shape, bf16, f16};

use crate::ops::module::{cast_from_f32, cast_to_f32};
use crate::{FlexTensor, Layout};

/// The float types the kernels run in natively (and gemm multiplies); f16 and bf16 go through
/// f32 ([`in_float_type`]).
pub(crate) trait KernelFloat:
    bytemuck::Pod
    + burn_backend::Element
    + Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl KernelFloat for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl KernelFloat for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// The float types the kernels also run on in vector registers: with the `simd` feature,
/// those macerator has arithmetic and sums for (f32, f64), picked at run time (AVX2 here,
/// SIMD128 in the browser).
#[cfg(feature = "simd")]
pub(crate) trait VectorFloat:
    KernelFloat
    + macerator::VAdd
    + macerator::VSub
    + macerator::VMul
    + macerator::VMulAdd
    + macerator::ReduceAdd
    + macerator::VOrd
    + macerator::VSelect
{
}
#[cfg(feature = "simd")]
impl<T> VectorFloat for T where
    T: KernelFloat
        + macerator::VAdd
        + macerator::VSub
        + macerator::VMul
        + macerator::VMulAdd
        + macerator::ReduceAdd
        + macerator::VOrd
        + macerator::VSelect
{
}
#[cfg(not(feature = "simd"))]
pub(crate) trait VectorFloat: KernelFloat {}
#[cfg(not(feature = "simd"))]
impl<T: KernelFloat> VectorFloat for T {}

/// A contiguous tensor of `data`.
pub(crate) fn tensor<T: KernelFloat>(data: Vec<T>, shape: Shape) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape),
        T::dtype(),
    )
}

/// Runs `f32_fn` or `f64_fn` on `tensors`, by the first one's type; f16 and bf16 are cast up
/// to f32 and the result back down, through `map_back` (which applies the cast it is given to
/// each tensor of the result). `what` names the op in the panic for other types.
pub(crate) fn in_float_type<const N: usize, R>(
    what: &str,
    tensors: [FlexTensor; N],
    f32_fn: impl FnOnce([FlexTensor; N]) -> R,
    f64_fn: impl FnOnce([FlexTensor; N]) -> R,
    map_back: impl Fn(R, fn(FlexTensor) -> FlexTensor) -> R,
) -> R {
    match tensors[0].dtype() {
        DType::F32 => f32_fn(tensors),
        DType::F64 => f64_fn(tensors),
        DType::F16 => {
            let up = tensors.map(|t| cast_to_f32::<f16>(t, f32::from));
            map_back(f32_fn(up), |t| cast_from_f32::<f16>(t, f16::from_f32))
        }
        DType::BF16 => {
            let up = tensors.map(|t| cast_to_f32::<bf16>(t, f32::from));
            map_back(f32_fn(up), |t| cast_from_f32::<bf16>(t, bf16::from_f32))
        }
        dtype => panic!("{what}: unsupported dtype {dtype:?}"),
    }
}

/// A vector of `len` values made by `f(i, chunk)` on its consecutive chunks of `size` (the last
/// may be shorter), on rayon's pool when it has one, with at least `grain` chunks per task.
/// Each chunk is zeroed by the task that fills it rather than all at once on the calling
/// thread beforehand (`vec![0; len]`), where the pool's threads would wait for it; and it is
/// still in cache when `f` writes it. For kernels that add into their output; those that
/// overwrite it use [`written_in_chunks`].
pub(crate) fn filled_in_chunks<T: KernelFloat>(
    len: usize,
    size: usize,
    grain: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) -> Vec<T> {
    let zero_then_fill = |i: usize, chunk: &mut [MaybeUninit<T>]| {
        chunk.fill(MaybeUninit::new(T::ZERO));
        // SAFETY: every element of the chunk was just initialised.
        f(i, unsafe { chunk.assume_init_mut() })
    };
    // SAFETY: `zero_then_fill` initialises every element of its chunk.
    unsafe { written_in_chunks(len, size, grain, zero_then_fill) }
}

/// A vector of `len` values whose consecutive chunks of `size` (the last may be shorter) `f(i,
/// chunk)` writes, on rayon's pool when it has one, with at least `grain` chunks per task.
/// Nothing is zeroed first: a kernel that overwrites its whole output (a GEMM without
/// accumulation, an element-wise pass) writes each value once.
///
/// # Safety
/// `f` must initialise every element of the chunk it is given before it returns. (If it
/// panics instead, the vector is never made.)
pub(crate) unsafe fn written_in_chunks<T: Send>(
    len: usize,
    size: usize,
    grain: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let mut data: Vec<T> = Vec::with_capacity(len);
    if len == 0 {
        return data;
    }
    for_each_chunk(&mut data.spare_capacity_mut()[..len], size, grain, f);
    // SAFETY: the chunks cover the first `len` elements, and `f` initialised each chunk (the
    // caller's promise).
    unsafe { data.set_len(len) };
    data
}

/// `f(i, chunk)` for the consecutive chunks of `size` of `spare`, on rayon's pool when it has
/// one, with at least `grain` chunks per task.
fn for_each_chunk<T: Send>(
    spare: &mut [MaybeUninit<T>],
    size: usize,
    grain: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        spare
            .par_chunks_mut(size.max(1))
            .with_min_len(grain.max(1))
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let _ = grain;
        spare
            .chunks_mut(size.max(1))
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    }
}
