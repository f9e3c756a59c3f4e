//! The exact network's big products in 8-bit integers, on CPUs with AVX-512 VNNI.
//!
//! The projection and the six convolutions are 1.7 M multiply-adds per token, nearly
//! all of the exact network's time (≈ 3.3 ms for 280 characters in `f32`); the pooled
//! projection and the dense head, one row each, are bound by reading their weights.
//! All of them run here. One VNNI instruction does 64 `u8 × i8` multiply-adds into 16
//! `i32` sums where an AVX-512 fused multiply-add does 16, and an `i8` weight is a
//! quarter of the memory of an `f32` one.
//!
//! Weights are quantised once, at load, per output column (`i8`, symmetric). Inputs are
//! quantised per call and per row (per token), as `u8` offset by 128; the offset's
//! contribution (`128 · Σ w`) is subtracted from each sum. A convolution's window spans
//! several rows, so its weights are split into one matrix per row of the window, and
//! each row's product is scaled by that row's own scale (one scale for the whole input
//! put the worst French sentences of the reference set at cosine 0.991). The sums are
//! exact integers, so the VNNI kernel and the portable one give identical results;
//! what quantisation costs is measured against the reference model
//! (`tests/reference.rs`).

/// Columns of one panel: 16 `i32` sums, one AVX-512 register.
const PANEL: usize = 16;
/// Inputs one VNNI lane multiplies and adds at a time.
const GROUP: usize = 4;
/// The `u8` offset of a quantised input.
const OFFSET: i32 = 128;

/// A `k × n` weight matrix in `i8`, packed for the VNNI kernel: panel `p`, group `g`
/// holds rows `4g .. 4g + 4` of columns `16p .. 16p + 16`, column by column (the 4
/// bytes one `i32` lane multiplies), zero-padded past `n`.
pub(crate) struct QuantizedMatrix {
    k: usize,
    n: usize,
    panels: Vec<i8>,
    /// Per column: the weight that a quantised 1 stands for (zero-padded to whole
    /// panels, as `offsets`).
    scales: Vec<f32>,
    /// Per column: `128 · Σ_k q[k][col]`, the offset's share of each sum.
    offsets: Vec<i32>,
}

/// An input quantised for [`QuantizedMatrix::mul_add`], row by row: `u8` values
/// `round(x / scale) + 128`, with each row's scale.
pub(crate) struct QuantizedInput {
    values: Vec<u8>,
    scales: Vec<f32>,
    stride: usize,
}

impl QuantizedInput {
    /// Quantises the first `width` values of each row of `x` (rows `stride` apart),
    /// each row with its own scale.
    pub fn new(x: &[f32], stride: usize, width: usize) -> QuantizedInput {
        let rows = x.len().div_ceil(stride);
        let mut values = vec![OFFSET as u8; rows * width];
        let mut scales = Vec::with_capacity(rows);
        for (row, out) in x.chunks(stride).zip(values.chunks_exact_mut(width)) {
            let row = &row[..width.min(row.len())];
            scales.push(quantize_row(row, out));
        }
        QuantizedInput {
            values,
            scales,
            stride: width,
        }
    }

    fn row(&self, r: usize) -> &[u8] {
        &self.values[r * self.stride..]
    }
}

impl QuantizedMatrix {
    /// Quantises and packs a row-major `k × n` matrix; `k` is a multiple of 4.
    pub fn quantize(w: &[f32], k: usize, n: usize) -> QuantizedMatrix {
        assert_eq!(w.len(), k * n, "weight matrix is not {k} × {n}");
        assert_eq!(k % GROUP, 0, "rows must come in groups of {GROUP}");
        let scales: Vec<f32> = (0..n)
            .map(|j| {
                let max = (0..k).fold(0f32, |m, i| m.max(w[i * n + j].abs()));
                if max > 0.0 { max / 127.0 } else { 1.0 }
            })
            .collect();
        let q = |i: usize, j: usize| (w[i * n + j] / scales[j]).round().clamp(-127.0, 127.0) as i8;
        let count = n.div_ceil(PANEL);
        let mut panels = vec![0i8; count * k * PANEL];
        for p in 0..count {
            for g in 0..k / GROUP {
                for c in 0..PANEL.min(n - p * PANEL) {
                    for r in 0..GROUP {
                        let at = ((p * (k / GROUP) + g) * PANEL + c) * GROUP + r;
                        panels[at] = q(g * GROUP + r, p * PANEL + c);
                    }
                }
            }
        }
        let mut offsets: Vec<i32> = (0..n)
            .map(|j| OFFSET * (0..k).map(|i| i32::from(q(i, j))).sum::<i32>())
            .collect();
        let mut scales = scales;
        offsets.resize(count * PANEL, 0);
        scales.resize(count * PANEL, 0.0);
        QuantizedMatrix {
            k,
            n,
            panels,
            scales,
            offsets,
        }
    }

    pub fn rows(&self) -> usize {
        self.k
    }

    /// `c[m × n] += a[first .. first + m] @ self`: output row `i` takes the first `k`
    /// values of input row `first + i`.
    pub fn mul_add(&self, a: &QuantizedInput, first: usize, m: usize, c: &mut [f32]) {
        if m == 0 {
            return;
        }
        assert!(self.k <= a.stride, "input rows shorter than the matrix");
        assert!(
            a.values.len() >= (first + m) * a.stride,
            "input rows out of bounds"
        );
        assert!(c.len() >= m * self.n, "output out of bounds");
        #[cfg(target_arch = "x86_64")]
        if vnni_available() {
            // SAFETY: the CPU has AVX-512F and AVX-512 VNNI (checked above); the kernel
            // keeps every access inside the bounds asserted above.
            #[allow(unsafe_code)]
            unsafe {
                x86::mul_add_vnni(self, a, first, m, c);
            }
            return;
        }
        self.mul_add_portable(a, first, m, c);
    }

    /// The same integer sums without SIMD (other CPUs, and the tests' reference).
    fn mul_add_portable(&self, a: &QuantizedInput, first: usize, m: usize, c: &mut [f32]) {
        let (k, n) = (self.k, self.n);
        for (p, panel) in self.panels.chunks_exact(k * PANEL).enumerate() {
            let cols = (n - p * PANEL).min(PANEL);
            for i in 0..m {
                let row = &a.row(first + i)[..k];
                let mut sums = [0i32; PANEL];
                for (g, block) in panel.chunks_exact(PANEL * GROUP).enumerate() {
                    let x = &row[g * GROUP..(g + 1) * GROUP];
                    for (s, w) in sums.iter_mut().zip(block.chunks_exact(GROUP)) {
                        *s += x
                            .iter()
                            .zip(w)
                            .map(|(&x, &w)| i32::from(x) * i32::from(w))
                            .sum::<i32>();
                    }
                }
                let scale = a.scales[first + i];
                self.store(&sums[..cols], p, scale, &mut c[i * n..(i + 1) * n]);
            }
        }
    }

    /// Adds panel `p`'s integer sums for one row to that row of the output.
    fn store(&self, sums: &[i32], p: usize, input_scale: f32, row: &mut [f32]) {
        let first = p * PANEL;
        for (j, s) in sums.iter().enumerate() {
            let col = first + j;
            // As the kernel's store: one fused multiply-add, so both agree exactly.
            let scale = self.scales[col] * input_scale;
            row[col] = ((s - self.offsets[col]) as f32).mul_add(scale, row[col]);
        }
    }
}

/// Quantises `x` into `out` (`round(x / scale) + 128`) and returns the scale, the
/// row's largest magnitude over 127.
fn quantize_row(x: &[f32], out: &mut [u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if vnni_available() {
        // SAFETY: the CPU has AVX-512F (VNNI implies it); `out` is as long as `x`.
        #[allow(unsafe_code)]
        return unsafe { x86::quantize_row(x, out) };
    }
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    for (o, v) in out.iter_mut().zip(x) {
        *o = ((v / scale).round() as i32 + OFFSET).clamp(0, 255) as u8;
    }
    scale
}

/// AVX-512 VNNI (Ice Lake and later Xeons, Zen 4): set `FIREBREAK_NO_VNNI` to run the
/// `f32` network instead, for comparisons.
#[cfg(target_arch = "x86_64")]
pub(crate) fn vnni_available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::env::var_os("FIREBREAK_NO_VNNI").is_none()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn vnni_available() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{GROUP, PANEL, QuantizedInput, QuantizedMatrix};

    /// Input rows one kernel call handles, against two panels: 12 × 2 accumulators,
    /// 2 weight registers and one broadcast out of 32 registers.
    const ROWS: usize = 12;

    /// # Safety
    /// The CPU supports AVX-512F and AVX-512 VNNI; `a` holds rows `first .. first + m`
    /// of at least `k` values, `c` holds `m × n`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn mul_add_vnni(
        w: &QuantizedMatrix,
        a: &QuantizedInput,
        first: usize,
        m: usize,
        c: &mut [f32],
    ) {
        let (k, n, lda) = (w.k, w.n, a.stride);
        let count = n.div_ceil(PANEL);
        let panel = |p: usize| &w.panels[p * k * PANEL..(p + 1) * k * PANEL];
        let mut p = 0;
        while p < count {
            // Two neighbouring panels per pass; a last odd one is paired with itself
            // and its second half dropped.
            let pair = p + 1 < count;
            let (left, right) = (panel(p), panel(if pair { p + 1 } else { p }));
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(ROWS);
                let x = a.row(first + i);
                macro_rules! dispatch {
                    ($($r:literal)*) => {
                        match rows {
                            $($r => wide::<$r>(left, right, k, x, lda),)*
                            _ => wide::<1>(left, right, k, x, lda),
                        }
                    };
                }
                // SAFETY: `rows` rows of `k` at stride `lda` are inside `x`, both panels
                // hold `k × PANEL` bytes, and the CPU has AVX-512 VNNI.
                let sums: [[i32; 2 * PANEL]; ROWS] = unsafe { dispatch!(12 11 10 9 8 7 6 5 4 3 2) };
                for (r, sums) in sums.iter().enumerate().take(rows) {
                    let row = &mut c[(i + r) * n..(i + r + 1) * n];
                    let scale = a.scales[first + i + r];
                    for (half, q) in [p, p + 1].into_iter().enumerate().take(1 + pair as usize) {
                        // SAFETY: AVX-512F; `sums` half holds 16 sums, panel `q` is
                        // inside the padded scales and offsets, and `store` masks the
                        // columns past `n`.
                        unsafe { store(w, &sums[half * PANEL..], q, scale, row) };
                    }
                }
                i += rows;
            }
            p += 1 + pair as usize;
        }
    }

    /// [`super::quantize_row`] in AVX-512: rounding to nearest, saturated to `u8`
    /// (scalar code was a fifth of the network's time).
    ///
    /// # Safety
    /// AVX-512F; `out` is at least as long as `x`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_row(x: &[f32], out: &mut [u8]) -> f32 {
        assert!(out.len() >= x.len());
        let full = x.len() / PANEL * PANEL;
        let tail_mask: __mmask16 = ((1u32 << (x.len() - full)) - 1) as u16;
        // SAFETY: whole chunks of 16 below `full`, the rest under `tail_mask`, inside
        // `x` and `out`.
        unsafe {
            let mut max = _mm512_setzero_ps();
            for i in (0..full).step_by(PANEL) {
                max = _mm512_max_ps(max, _mm512_abs_ps(_mm512_loadu_ps(x.as_ptr().add(i))));
            }
            let tail = _mm512_maskz_loadu_ps(tail_mask, x.as_ptr().add(full));
            max = _mm512_max_ps(max, _mm512_abs_ps(tail));
            let max = _mm512_reduce_max_ps(max);
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            let inverse = _mm512_set1_ps(scale.recip());
            let offset = _mm512_set1_epi32(super::OFFSET);
            let quantize =
                |v: __m512| _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inverse)), offset);
            for i in (0..full).step_by(PANEL) {
                let q = quantize(_mm512_loadu_ps(x.as_ptr().add(i)));
                _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm512_cvtusepi32_epi8(q));
            }
            let q = quantize(tail);
            _mm512_mask_cvtusepi32_storeu_epi8(out.as_mut_ptr().add(full).cast(), tail_mask, q);
            scale
        }
    }

    /// Adds panel `q`'s 16 sums, dequantised, to `row` (an output row of `n`).
    ///
    /// # Safety
    /// AVX-512F; `sums` holds 16 values; panel `q` exists.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store(
        w: &QuantizedMatrix,
        sums: &[i32],
        q: usize,
        input_scale: f32,
        row: &mut [f32],
    ) {
        debug_assert!(sums.len() >= PANEL && (q + 1) * PANEL <= w.scales.len());
        let cols = (w.n - q * PANEL).min(PANEL);
        let mask: __mmask16 = if cols == PANEL {
            !0
        } else {
            (1u16 << cols) - 1
        };
        // SAFETY: 16 sums, 16 padded scales and offsets from `q · 16`; the output is
        // read and written under `mask`, columns `q · 16 ..` of `n`.
        unsafe {
            let sums = _mm512_loadu_si512(sums.as_ptr().cast());
            let offsets = _mm512_loadu_si512(w.offsets.as_ptr().add(q * PANEL).cast());
            let scales = _mm512_mul_ps(
                _mm512_loadu_ps(w.scales.as_ptr().add(q * PANEL)),
                _mm512_set1_ps(input_scale),
            );
            let values = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, offsets));
            let out = row.as_mut_ptr().add(q * PANEL);
            let current = _mm512_maskz_loadu_ps(mask, out);
            _mm512_mask_storeu_ps(out, mask, _mm512_fmadd_ps(values, scales, current));
        }
    }

    /// `R` input rows times two panels, in `i32` sums.
    ///
    /// # Safety
    /// AVX-512F and VNNI; both panels hold `k × PANEL` bytes; `x` holds `R` rows of `k`
    /// at stride `lda`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    #[inline]
    unsafe fn wide<const R: usize>(
        first: &[i8],
        second: &[i8],
        k: usize,
        x: &[u8],
        lda: usize,
    ) -> [[i32; 2 * PANEL]; ROWS] {
        debug_assert!(first.len() >= k * PANEL && second.len() >= k * PANEL);
        debug_assert!(x.len() >= (R - 1) * lda + k);
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        let (b0p, b1p, xp) = (first.as_ptr(), second.as_ptr(), x.as_ptr());
        for g in 0..k / GROUP {
            // SAFETY: inside both panels and `x` (see the function's contract).
            unsafe {
                let b0 = _mm512_loadu_si512(b0p.add(g * PANEL * GROUP).cast());
                let b1 = _mm512_loadu_si512(b1p.add(g * PANEL * GROUP).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let four = xp.add(r * lda + g * GROUP).cast::<i32>().read_unaligned();
                    let x = _mm512_set1_epi32(four);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, b0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, b1);
                }
            }
        }
        let mut out = [[0i32; 2 * PANEL]; ROWS];
        for (o, acc) in out.iter_mut().zip(&acc) {
            // SAFETY: each `o` holds 32 `i32`.
            unsafe {
                _mm512_storeu_si512(o.as_mut_ptr().cast(), acc[0]);
                _mm512_storeu_si512(o.as_mut_ptr().add(PANEL).cast(), acc[1]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn exact(a: &[f32], lda: usize, m: usize, w: &[f32], k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|kk| a[i * lda + kk] * w[kk * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn the_kernel_and_the_portable_sums_agree_and_approximate_the_product() {
        for (m, k, n, lda, first) in [
            (1, 8, 5, 8, 0),
            (7, 32, 40, 40, 1),
            (13, 64, 16, 64, 0),
            (25, 72, 48, 72, 2),
            (12, 16, 33, 16, 0),
            (30, 256, 256, 256, 4),
        ] {
            let a = values((first + m) * lda, 1);
            let w = values(k * n, 2);
            let q = QuantizedMatrix::quantize(&w, k, n);
            let x = QuantizedInput::new(&a, lda, lda);
            let mut dispatched = vec![1f32; m * n];
            q.mul_add(&x, first, m, &mut dispatched);
            let mut portable = vec![1f32; m * n];
            q.mul_add_portable(&x, first, m, &mut portable);
            assert_eq!(dispatched, portable, "{m}×{k}×{n}");
            // Within a few quantisation steps of the f32 product.
            let reference = exact(&a[first * lda..], lda, m, &w, k, n);
            let tolerance = 0.02 * (k as f32).sqrt();
            for (e, p) in reference.iter().zip(&portable) {
                assert!((e + 1.0 - p).abs() < tolerance, "{m}×{k}×{n}: {e} vs {p}");
            }
        }
    }

    #[test]
    fn an_all_zero_input_adds_nothing() {
        let q = QuantizedMatrix::quantize(&values(8 * 20, 3), 8, 20);
        let mut c = vec![2f32; 3 * 20];
        q.mul_add(&QuantizedInput::new(&[0.0; 24], 8, 8), 0, 3, &mut c);
        assert!(c.iter().all(|v| (v - 2.0).abs() < 1e-6), "{c:?}");
    }
}
