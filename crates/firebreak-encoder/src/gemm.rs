//! Matrix products against the network's fixed weights, for the few rows one sentence
//! has.
//!
//! A general GEMM (as `matrixmultiply`'s) packs both operands on every call. With a
//! sentence of 20–60 tokens against a 512 × 768 weight matrix, packing the weights cost
//! as much as the multiplication itself (a profile of the second stage: 18 % packing,
//! 25 % kernel). Here the weights are packed once, at load, into column panels of
//! [`PANEL`] floats, so a product streams each panel once per [`ROWS`] input rows and
//! the input rows are read in place (any row stride, which lets the convolutions read
//! their overlapping windows straight from a padded input).

/// Columns of one panel: two AVX registers.
const PANEL: usize = 16;
/// Input rows one kernel call handles: 6 × 2 accumulators, 2 weight registers and one
/// broadcast fill the 16 AVX registers.
const ROWS: usize = 6;

/// A `k × n` weight matrix in column panels: panel `p` holds, for each of the `k`
/// rows, columns `16p .. 16p + 16` (zero-padded past `n`).
pub(crate) struct PackedMatrix {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedMatrix {
    /// Packs a row-major `k × n` matrix.
    pub fn pack(w: &[f32], k: usize, n: usize) -> PackedMatrix {
        assert_eq!(w.len(), k * n, "weight matrix is not {k} × {n}");
        let count = n.div_ceil(PANEL);
        let mut panels = vec![0f32; count * k * PANEL];
        for p in 0..count {
            let cols = (n - p * PANEL).min(PANEL);
            for row in 0..k {
                let dst = (p * k + row) * PANEL;
                let src = row * n + p * PANEL;
                panels[dst..dst + cols].copy_from_slice(&w[src..src + cols]);
            }
        }
        PackedMatrix { k, n, panels }
    }

    pub fn rows(&self) -> usize {
        self.k
    }

    /// `c[m × n] += a[m × k] @ self`, with row `i` of `a` at `a[i·lda ..]` and `c`
    /// row-major with rows `n` apart.
    pub fn mul_add(&self, a: &[f32], lda: usize, m: usize, c: &mut [f32]) {
        let (k, n) = (self.k, self.n);
        if m == 0 {
            return;
        }
        assert!(a.len() >= (m - 1) * lda + k, "input rows out of bounds");
        assert!(c.len() >= m * n, "output out of bounds");
        #[cfg(target_arch = "x86_64")]
        if avx512_available() {
            // SAFETY: the CPU has AVX-512F (checked above); `mul_add_avx512` keeps every
            // access inside the bounds asserted above.
            #[allow(unsafe_code)]
            unsafe {
                x86::mul_add_avx512(self, a, lda, m, c);
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if fma_available() {
            // SAFETY: the CPU has AVX2 and FMA (checked above); `kernel_fma` keeps every
            // access inside the bounds asserted above.
            #[allow(unsafe_code)]
            unsafe {
                x86::mul_add_fma(self, a, lda, m, c);
            }
            return;
        }
        self.mul_add_portable(a, lda, m, c);
    }

    /// The same product without SIMD intrinsics (other CPUs, and the tests' reference).
    fn mul_add_portable(&self, a: &[f32], lda: usize, m: usize, c: &mut [f32]) {
        let (k, n) = (self.k, self.n);
        for (p, panel) in self.panels.chunks_exact(k * PANEL).enumerate() {
            let cols = (n - p * PANEL).min(PANEL);
            for i in 0..m {
                let mut acc = [0f32; PANEL];
                let row = &a[i * lda..i * lda + k];
                for (x, w) in row.iter().zip(panel.chunks_exact(PANEL)) {
                    for (s, wv) in acc.iter_mut().zip(w) {
                        *s += x * wv;
                    }
                }
                let out = &mut c[i * n + p * PANEL..i * n + p * PANEL + cols];
                out.iter_mut().zip(&acc).for_each(|(o, s)| *o += s);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn fma_available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

/// AVX-512 doubles the lanes of a fused multiply-add and the registers to keep sums
/// in; on the Xeons this runs on it halves the exact network's time.
#[cfg(target_arch = "x86_64")]
fn avx512_available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::env::var_os("FIREBREAK_NO_AVX512").is_none()
            && std::arch::is_x86_feature_detected!("avx512f")
    })
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PANEL, PackedMatrix, ROWS};

    /// Input rows one AVX-512 kernel call handles, against two panels at once: 12 × 2
    /// accumulators, 2 weight registers and one broadcast out of 32 registers.
    const WIDE_ROWS: usize = 12;

    /// # Safety
    /// The CPU supports AVX-512F; `a` holds `m` rows of `k` at stride `lda`, `c` holds
    /// `m × n`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn mul_add_avx512(
        w: &PackedMatrix,
        a: &[f32],
        lda: usize,
        m: usize,
        c: &mut [f32],
    ) {
        let (k, n) = (w.k, w.n);
        let count = n.div_ceil(PANEL);
        let panel = |p: usize| &w.panels[p * k * PANEL..(p + 1) * k * PANEL];
        let mut p = 0;
        while p < count {
            // Two neighbouring panels per pass; a last odd one is paired with itself
            // and its second half dropped.
            let pair = p + 1 < count;
            let (first, second) = (panel(p), panel(if pair { p + 1 } else { p }));
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(WIDE_ROWS);
                let a = &a[i * lda..];
                macro_rules! dispatch {
                    ($($r:literal)*) => {
                        match rows {
                            $($r => wide::<$r>(first, second, k, a, lda),)*
                            _ => wide::<1>(first, second, k, a, lda),
                        }
                    };
                }
                // SAFETY: `rows` rows of `k` at stride `lda` are inside `a`, both panels
                // hold `k × PANEL`, and the CPU has AVX-512F.
                let sums: [[f32; 2 * PANEL]; WIDE_ROWS] =
                    unsafe { dispatch!(12 11 10 9 8 7 6 5 4 3 2) };
                for (r, sums) in sums.iter().enumerate().take(rows) {
                    for (half, q) in [p, p + 1].into_iter().enumerate().take(1 + pair as usize) {
                        let cols = (n - q * PANEL).min(PANEL);
                        let start = (i + r) * n + q * PANEL;
                        c[start..start + cols]
                            .iter_mut()
                            .zip(&sums[half * PANEL..])
                            .for_each(|(o, s)| *o += s);
                    }
                }
                i += rows;
            }
            p += 1 + pair as usize;
        }
    }

    /// `R` input rows times two panels.
    ///
    /// # Safety
    /// AVX-512F; both panels hold `k × PANEL` floats; `a` holds `R` rows of `k` at
    /// stride `lda`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn wide<const R: usize>(
        first: &[f32],
        second: &[f32],
        k: usize,
        a: &[f32],
        lda: usize,
    ) -> [[f32; 2 * PANEL]; WIDE_ROWS] {
        debug_assert!(first.len() >= k * PANEL && second.len() >= k * PANEL);
        debug_assert!(a.len() >= (R - 1) * lda + k);
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let (b0p, b1p, ap) = (first.as_ptr(), second.as_ptr(), a.as_ptr());
        for kk in 0..k {
            // SAFETY: inside both panels and `a` (see the function's contract).
            unsafe {
                let b0 = _mm512_loadu_ps(b0p.add(kk * PANEL));
                let b1 = _mm512_loadu_ps(b1p.add(kk * PANEL));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*ap.add(r * lda + kk));
                    acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
                }
            }
        }
        let mut out = [[0f32; 2 * PANEL]; WIDE_ROWS];
        for (o, acc) in out.iter_mut().zip(&acc) {
            // SAFETY: each `o` holds 32 floats.
            unsafe {
                _mm512_storeu_ps(o.as_mut_ptr(), acc[0]);
                _mm512_storeu_ps(o.as_mut_ptr().add(PANEL), acc[1]);
            }
        }
        out
    }

    /// # Safety
    /// The CPU supports AVX2 and FMA; `a` holds `m` rows of `k` at stride `lda`, `c`
    /// holds `m × n`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn mul_add_fma(
        w: &PackedMatrix,
        a: &[f32],
        lda: usize,
        m: usize,
        c: &mut [f32],
    ) {
        let (k, n) = (w.k, w.n);
        for (p, panel) in w.panels.chunks_exact(k * PANEL).enumerate() {
            let cols = (n - p * PANEL).min(PANEL);
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(ROWS);
                let a = &a[i * lda..];
                // A kernel per row count, so that the accumulators stay in registers.
                // SAFETY: `rows` rows of `k` at stride `lda` are inside `a`, and the
                // CPU has AVX2 and FMA.
                let sums: [[f32; PANEL]; ROWS] = unsafe {
                    match rows {
                        6 => block::<6>(panel, k, a, lda),
                        5 => block::<5>(panel, k, a, lda),
                        4 => block::<4>(panel, k, a, lda),
                        3 => block::<3>(panel, k, a, lda),
                        2 => block::<2>(panel, k, a, lda),
                        _ => block::<1>(panel, k, a, lda),
                    }
                };
                for (r, sums) in sums.iter().enumerate().take(rows) {
                    let start = (i + r) * n + p * PANEL;
                    c[start..start + cols]
                        .iter_mut()
                        .zip(sums)
                        .for_each(|(o, s)| *o += s);
                }
                i += rows;
            }
        }
    }

    /// `R` input rows times one panel.
    ///
    /// # Safety
    /// AVX2 and FMA; `panel` holds `k × PANEL` floats; `a` holds `R` rows of `k` at
    /// stride `lda`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>(
        panel: &[f32],
        k: usize,
        a: &[f32],
        lda: usize,
    ) -> [[f32; PANEL]; ROWS] {
        debug_assert!(panel.len() >= k * PANEL && a.len() >= (R - 1) * lda + k);
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let bp = panel.as_ptr();
        let ap = a.as_ptr();
        for kk in 0..k {
            // SAFETY: inside `panel` and `a` (see the function's contract).
            unsafe {
                let b0 = _mm256_loadu_ps(bp.add(kk * PANEL));
                let b1 = _mm256_loadu_ps(bp.add(kk * PANEL + 8));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*ap.add(r * lda + kk));
                    acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
                }
            }
        }
        let mut out = [[0f32; PANEL]; ROWS];
        for (o, acc) in out.iter_mut().zip(&acc) {
            // SAFETY: each `o` holds 16 floats.
            unsafe {
                _mm256_storeu_ps(o.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(o.as_mut_ptr().add(8), acc[1]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f32], lda: usize, m: usize, w: &[f32], k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|kk| a[i * lda + kk] * w[kk * n + j]).sum();
            }
        }
        c
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn products_match_the_definition_for_odd_shapes_and_strides() {
        for (m, k, n, lda) in [
            (1, 7, 5, 7),
            (7, 33, 40, 40),
            (13, 64, 16, 64),
            (6, 5, 17, 9),
            (25, 70, 48, 70),
            (12, 16, 40, 16),
        ] {
            let a = values((m - 1) * lda + k, 1);
            let w = values(k * n, 2);
            let packed = PackedMatrix::pack(&w, k, n);
            let expected = reference(&a, lda, m, &w, k, n);
            let mut fast = vec![1f32; m * n];
            packed.mul_add(&a, lda, m, &mut fast);
            #[cfg(target_arch = "x86_64")]
            if fma_available() {
                let mut avx2 = vec![1f32; m * n];
                // SAFETY: AVX2 and FMA are available; shapes as asserted by `mul_add`.
                #[allow(unsafe_code)]
                unsafe {
                    x86::mul_add_fma(&packed, &a, lda, m, &mut avx2);
                }
                for (e, f) in expected.iter().zip(&avx2) {
                    assert!((e + 1.0 - f).abs() < 1e-3, "{m}×{k}×{n}: {e} vs {f}");
                }
            }
            let mut portable = vec![1f32; m * n];
            packed.mul_add_portable(&a, lda, m, &mut portable);
            for ((e, f), p) in expected.iter().zip(&fast).zip(&portable) {
                assert!((e + 1.0 - f).abs() < 1e-3, "{m}×{k}×{n}: {e} vs {f}");
                assert!((e + 1.0 - p).abs() < 1e-3, "{m}×{k}×{n}: {e} vs {p}");
            }
        }
    }

    #[test]
    fn no_rows_is_a_no_op() {
        let packed = PackedMatrix::pack(&[1.0; 6], 2, 3);
        let mut c = vec![5f32; 3];
        packed.mul_add(&[], 2, 0, &mut c);
        assert_eq!(c, [5.0; 3]);
    }
}
