//! The USE multilingual v3 network: DAN embedding average plus a CNN over 2-, 3- and
//! 5-grams, pooled and fed to a small residual dense head.
//!
//! Two ways to the pooled vector:
//! - `exact` runs the whole network, token by token, as the reference does;
//! - `fast` sums each piece's distilled static contribution (its average pooled
//!   contribution over a French and English corpus), which replaces the per-token
//!   projection, CNN and layer norm by one table lookup.
//!
//! Both then run the same exact head, so the fast path only approximates the
//! contextual CNN.

use matrixmultiply::sgemm;

use crate::EncoderError;
use crate::artifact::Tensors;

/// Dimension of an embedding.
pub const DIM: usize = 512;
const CNN: usize = 256;
const FEATURES: usize = DIM + 3 * CNN;
const HIDDEN: usize = 320;
/// Principal components the static piece vectors are stored in; the fast path's
/// dimension.
pub const STATIC_RANK: usize = 256;
/// (n-gram order, tokens of left context) of the three CNN branches.
const ORDERS: [(usize, usize); 3] = [(2, 0), (3, 1), (5, 2)];

struct CnnBranch {
    order: usize,
    left: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

pub(crate) struct Network {
    vocab: usize,
    embedding: Vec<u8>,
    embedding_scale: Vec<f32>,
    embedding_lo: Vec<f32>,
    static_q: Vec<i8>,
    static_scale: Vec<f32>,
    static_centre: Vec<f32>,
    proj_w: Vec<f32>,
    proj_b: Vec<f32>,
    proj_ln: (Vec<f32>, Vec<f32>),
    branches: Vec<CnnBranch>,
    features_ln: (Vec<f32>, Vec<f32>),
    pool_w: Vec<f32>,
    pool_b: Vec<f32>,
    d0: Vec<f32>,
    d1: Vec<f32>,
    d2: Vec<f32>,
    d3: Vec<f32>,
    p1: Vec<f32>,
    p3: Vec<f32>,
    eps: f32,
}

impl Network {
    pub fn load(t: &Tensors<'_>, vocab: usize) -> Result<Self, EncoderError> {
        let embedding = t.get("embedding.q")?;
        let statics = t.get("static.q")?;
        if embedding.shape != [vocab, DIM] || statics.shape != [vocab, STATIC_RANK] {
            return Err(EncoderError::Format(
                "embedding tables do not match the vocabulary".into(),
            ));
        }
        let branches = ORDERS
            .iter()
            .map(|&(order, left)| {
                let name = |part: &str| format!("cnn{order}.{part}");
                Ok(CnnBranch {
                    order,
                    left,
                    w1: t.matrix(&name("w1"), order * CNN, CNN)?,
                    b1: t.vector(&name("b1"), CNN)?,
                    w2: t.matrix(&name("w2"), order * CNN, CNN)?,
                    b2: t.vector(&name("b2"), CNN)?,
                })
            })
            .collect::<Result<_, EncoderError>>()?;
        Ok(Self {
            vocab,
            embedding: embedding.u8s("embedding.q")?,
            embedding_scale: t.vector("embedding.scale", vocab)?,
            embedding_lo: t.vector("embedding.lo", vocab)?,
            static_q: statics.i8s("static.q")?,
            static_scale: t.vector("static.scale", vocab)?,
            static_centre: t.vector("static.centre", STATIC_RANK)?,
            proj_w: t.matrix("proj.w", DIM, 3 * CNN)?,
            proj_b: t.vector("proj.b", 3 * CNN)?,
            proj_ln: (
                t.vector("proj.ln_g", 3 * CNN)?,
                t.vector("proj.ln_b", 3 * CNN)?,
            ),
            branches,
            features_ln: (
                t.vector("features.ln_g", FEATURES)?,
                t.vector("features.ln_b", FEATURES)?,
            ),
            pool_w: t.matrix("pool.w", FEATURES, DIM)?,
            pool_b: t.vector("pool.b", DIM)?,
            d0: t.matrix("head.d0", DIM, HIDDEN)?,
            d1: t.matrix("head.d1", HIDDEN, HIDDEN)?,
            d2: t.matrix("head.d2", HIDDEN, DIM)?,
            d3: t.matrix("head.d3", DIM, DIM)?,
            p1: t.matrix("head.p1", DIM, HIDDEN)?,
            p3: t.matrix("head.p3", HIDDEN, DIM)?,
            eps: t.vector("eps", 1)?[0],
        })
    }

    /// The fast path: the sum of the pieces' distilled static contributions (minus their
    /// mean), in the 256 principal components the static vectors are stored in, scaled
    /// to unit length and centred on the corpus. Cosines in this space are
    /// cosines of the pooled vectors once centred, and the dense head is skipped: a
    /// linear classifier does as well on the pooled vector as on the head's output, and
    /// the head's 1.2 M multiply-adds would cost more than everything else together.
    pub fn fast(&self, ids: &[u32]) -> Vec<f32> {
        let mut codes = vec![0f32; STATIC_RANK];
        for &id in ids {
            let id = (id as usize).min(self.vocab - 1);
            let scale = self.static_scale[id];
            add_scaled_i8(
                &mut codes,
                &self.static_q[id * STATIC_RANK..(id + 1) * STATIC_RANK],
                scale,
            );
        }
        // Unit length, then centred on the corpus mean: without it every pair of
        // messages sits near cosine 1 and distances carry little.
        let norm = codes.iter().map(|c| c * c).sum::<f32>().sqrt().max(1e-12);
        for (c, centre) in codes.iter_mut().zip(&self.static_centre) {
            *c = *c / norm - centre;
        }
        codes
    }

    /// The whole network, as the reference computes it.
    pub fn exact(&self, ids: &[u32]) -> Vec<f32> {
        let n = ids.len().max(1);
        let mut features = vec![0f32; n * FEATURES];
        // DAN part: the dequantised embedding of every token.
        for (t, &id) in ids.iter().enumerate() {
            let id = (id as usize).min(self.vocab - 1);
            let (scale, lo) = (self.embedding_scale[id], self.embedding_lo[id]);
            let row = &self.embedding[id * DIM..(id + 1) * DIM];
            let dst = &mut features[t * FEATURES..t * FEATURES + DIM];
            for (d, &q) in dst.iter_mut().zip(row) {
                *d = q as f32 * scale + lo;
            }
        }
        // Projection to the three CNN branches, one layer norm over all of them.
        let mut x = vec![0f32; n * 3 * CNN];
        for t in 0..n {
            x[t * 3 * CNN..(t + 1) * 3 * CNN].copy_from_slice(&self.proj_b);
        }
        matmul(
            &features,
            FEATURES,
            &self.proj_w,
            &mut x,
            n,
            DIM,
            3 * CNN,
            1.0,
        );
        for row in x.chunks_exact_mut(3 * CNN) {
            layer_norm(row, &self.proj_ln.0, &self.proj_ln.1, self.eps);
        }
        for (i, branch) in self.branches.iter().enumerate() {
            let xs: Vec<f32> = x
                .chunks_exact(3 * CNN)
                .flat_map(|r| &r[i * CNN..(i + 1) * CNN])
                .copied()
                .collect();
            let h = conv_block(&xs, n, branch, &branch.w1, &branch.b1);
            let c = conv_block(&h, n, branch, &branch.w2, &branch.b2);
            for t in 0..n {
                let off = t * FEATURES + DIM + i * CNN;
                features[off..off + CNN].copy_from_slice(&c[t * CNN..(t + 1) * CNN]);
            }
        }
        let mut summed = [0f32; FEATURES];
        for row in features.chunks_exact_mut(FEATURES) {
            layer_norm(row, &self.features_ln.0, &self.features_ln.1, self.eps);
            summed.iter_mut().zip(row.iter()).for_each(|(s, v)| *s += v);
        }
        let mut pooled = [0f32; DIM];
        for (p, b) in pooled.iter_mut().zip(&self.pool_b) {
            *p = b * n as f32;
        }
        vec_mat(&summed, &self.pool_w, DIM, &mut pooled);
        let norm = (n as f32).sqrt().recip();
        pooled.iter_mut().for_each(|p| *p *= norm);
        self.head(&pooled)
    }

    /// The dense head: two residual ReLU blocks, tanh, L2 normalisation.
    fn head(&self, pooled: &[f32; DIM]) -> Vec<f32> {
        let mut y0 = [0f32; HIDDEN];
        vec_mat(pooled, &self.d0, HIDDEN, &mut y0);
        relu(&mut y0);
        let mut y1 = [0f32; HIDDEN];
        vec_mat(pooled, &self.p1, HIDDEN, &mut y1);
        vec_mat(&y0, &self.d1, HIDDEN, &mut y1);
        relu(&mut y1);
        let mut y2 = [0f32; DIM];
        vec_mat(&y1, &self.d2, DIM, &mut y2);
        relu(&mut y2);
        let mut z = [0f32; DIM];
        vec_mat(&y1, &self.p3, DIM, &mut z);
        vec_mat(&y2, &self.d3, DIM, &mut z);
        z.iter_mut().for_each(|v| *v = v.tanh());
        let norm = z.iter().map(|v| v * v).sum::<f32>().max(self.eps).sqrt();
        z.iter_mut().for_each(|v| *v /= norm);
        z.to_vec()
    }
}

/// One residual convolution over `order`-gram windows: `relu(window @ w + b) + input`.
/// Window slots outside the sentence read zeros, as the reference pads.
fn conv_block(input: &[f32], n: usize, branch: &CnnBranch, w: &[f32], b: &[f32]) -> Vec<f32> {
    let width = branch.order * CNN;
    let mut windows = vec![0f32; n * width];
    for t in 0..n {
        for k in 0..branch.order {
            let src = t as isize - branch.left as isize + k as isize;
            if (0..n as isize).contains(&src) {
                let src = src as usize;
                windows[t * width + k * CNN..t * width + (k + 1) * CNN]
                    .copy_from_slice(&input[src * CNN..(src + 1) * CNN]);
            }
        }
    }
    let mut out = vec![0f32; n * CNN];
    for row in out.chunks_exact_mut(CNN) {
        row.copy_from_slice(b);
    }
    matmul(&windows, width, w, &mut out, n, width, CNN, 1.0);
    for (o, i) in out.iter_mut().zip(input) {
        *o = o.max(0.0) + i;
    }
    out
}

/// `c += alpha · a[m × k] @ b[k × n]`, with `a` rows `lda` apart, all row-major.
#[allow(clippy::too_many_arguments)]
fn matmul(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
) {
    assert!(a.len() >= (m - 1) * lda + k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: with unit column strides and the row strides given, `sgemm` reads
    // `a[..(m-1)·lda + k]` and `b[..k·n]` and writes `c[..m·n]`, all checked above.
    #[allow(unsafe_code)]
    unsafe {
        sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            lda as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            1.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `out += scale · row`, for the int8 static vectors; compiled for AVX2 too and picked
/// at run time.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+sse4.1"))]
fn add_scaled_i8(out: &mut [f32], row: &[i8], scale: f32) {
    for (o, &q) in out.iter_mut().zip(row) {
        *o += scale * f32::from(q);
    }
}

/// `out += x @ w`, with `w` row-major `x.len() × cols`.
fn vec_mat(x: &[f32], w: &[f32], cols: usize, out: &mut [f32]) {
    for (xi, row) in x.iter().zip(w.chunks_exact(cols)) {
        if *xi == 0.0 {
            continue;
        }
        for (o, wv) in out.iter_mut().zip(row) {
            *o += xi * wv;
        }
    }
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

fn layer_norm(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    row.iter_mut().for_each(|v| *v -= mean);
    let var = row.iter().map(|v| v * v).sum::<f32>() / n;
    let inv = (var + eps).sqrt().recip();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = *v * inv * g + b;
    }
}
