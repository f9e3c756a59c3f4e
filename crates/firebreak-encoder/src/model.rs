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

use crate::EncoderError;
use crate::artifact::Tensors;
use crate::gemm::PackedMatrix;
use crate::qgemm::{QuantizedInput, QuantizedMatrix};

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

/// How the exact network's big products run: in `f32`, or in 8-bit integers where
/// the CPU has VNNI (about three times faster, within cosine 0.99 of the reference;
/// see `qgemm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precision {
    F32,
    Int8,
}

impl Precision {
    /// Int8 where the CPU runs it natively.
    pub fn best() -> Precision {
        if crate::qgemm::vnni_available() {
            Precision::Int8
        } else {
            Precision::F32
        }
    }
}

/// A weight matrix of one of the exact network's big products.
enum Weights {
    F32(PackedMatrix),
    /// In `blocks` of rows: a convolution's `order` rows of its window, each quantised
    /// input row with its own scale; one block for the projection.
    Int8(Vec<QuantizedMatrix>),
}

impl Weights {
    /// The `k × n` matrix `name`; in int8, split into `blocks` of `k / blocks` rows.
    fn new(
        t: &Tensors<'_>,
        name: &str,
        (k, n, blocks): (usize, usize, usize),
        precision: Precision,
    ) -> Result<Self, EncoderError> {
        let w = t.matrix(name, k, n)?;
        Ok(match precision {
            Precision::F32 => Weights::F32(PackedMatrix::pack(&w, k, n)),
            Precision::Int8 => Weights::Int8(
                w.chunks_exact(k / blocks * n)
                    .map(|block| QuantizedMatrix::quantize(block, k / blocks, n))
                    .collect(),
            ),
        })
    }

    fn rows(&self) -> usize {
        match self {
            Weights::F32(w) => w.rows(),
            Weights::Int8(blocks) => blocks.iter().map(QuantizedMatrix::rows).sum(),
        }
    }

    /// `c[m × n] += a[m × k] @ self`, row `i` of `a` at `a[i·lda ..]`. In int8 with
    /// several blocks, block `j` reads input row `i + j`: the blocks are `lda` rows
    /// each, a convolution's window read in place.
    fn mul_add(&self, a: &[f32], lda: usize, m: usize, c: &mut [f32]) {
        match self {
            Weights::F32(w) => w.mul_add(a, lda, m, c),
            Weights::Int8(blocks) => {
                let width = blocks[0].rows();
                debug_assert!(blocks.len() == 1 || width == lda);
                let input = QuantizedInput::new(a, lda, width);
                for (j, block) in blocks.iter().enumerate() {
                    block.mul_add(&input, j, m, c);
                }
            }
        }
    }
}

struct CnnBranch {
    order: usize,
    left: usize,
    w1: Weights,
    b1: Vec<f32>,
    w2: Weights,
    b2: Vec<f32>,
}

pub(crate) struct Network {
    vocab: usize,
    /// The two quantised tables are the bulk of the model (about 23 MB): borrowed
    /// from the model compiled into the binary rather than copied, so they cost the
    /// process only the pages of them that texts touch.
    embedding: Table,
    embedding_scale: Vec<f32>,
    embedding_lo: Vec<f32>,
    /// i8 values, stored as bytes.
    static_q: Table,
    static_scale: Vec<f32>,
    static_centre: Vec<f32>,
    proj_w: Weights,
    proj_b: Vec<f32>,
    proj_ln: (Vec<f32>, Vec<f32>),
    branches: Vec<CnnBranch>,
    features_ln: (Vec<f32>, Vec<f32>),
    pool_w: Weights,
    pool_b: Vec<f32>,
    d0: Weights,
    d1: Weights,
    d2: Weights,
    d3: Weights,
    p1: Weights,
    p3: Weights,
    eps: f32,
}

/// A quantised table, borrowed from a model in the binary or owned.
pub(crate) type Table = std::borrow::Cow<'static, [u8]>;

impl Network {
    /// `table` keeps a quantised table: borrows it when the model outlives the process,
    /// copies it otherwise.
    pub fn load<'a>(
        t: &Tensors<'a>,
        vocab: usize,
        table: impl Fn(&'a [u8]) -> Table,
        precision: Precision,
    ) -> Result<Self, EncoderError> {
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
                    w1: Weights::new(t, &name("w1"), (order * CNN, CNN, order), precision)?,
                    b1: t.vector(&name("b1"), CNN)?,
                    w2: Weights::new(t, &name("w2"), (order * CNN, CNN, order), precision)?,
                    b2: t.vector(&name("b2"), CNN)?,
                })
            })
            .collect::<Result<_, EncoderError>>()?;
        Ok(Self {
            vocab,
            embedding: table(embedding.bytes("embedding.q")?),
            embedding_scale: t.vector("embedding.scale", vocab)?,
            embedding_lo: t.vector("embedding.lo", vocab)?,
            static_q: table(statics.bytes("static.q")?),
            static_scale: t.vector("static.scale", vocab)?,
            static_centre: t.vector("static.centre", STATIC_RANK)?,
            proj_w: Weights::new(t, "proj.w", (DIM, 3 * CNN, 1), precision)?,
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
            pool_w: Weights::new(t, "pool.w", (FEATURES, DIM, 1), precision)?,
            pool_b: t.vector("pool.b", DIM)?,
            d0: Weights::new(t, "head.d0", (DIM, HIDDEN, 1), precision)?,
            d1: Weights::new(t, "head.d1", (HIDDEN, HIDDEN, 1), precision)?,
            d2: Weights::new(t, "head.d2", (HIDDEN, DIM, 1), precision)?,
            d3: Weights::new(t, "head.d3", (DIM, DIM, 1), precision)?,
            p1: Weights::new(t, "head.p1", (DIM, HIDDEN, 1), precision)?,
            p3: Weights::new(t, "head.p3", (HIDDEN, DIM, 1), precision)?,
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
        self.proj_w.mul_add(&features, FEATURES, n, &mut x);
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
        self.pool_w.mul_add(&summed, FEATURES, 1, &mut pooled);
        let norm = (n as f32).sqrt().recip();
        pooled.iter_mut().for_each(|p| *p *= norm);
        self.head(&pooled)
    }

    /// The dense head: two residual ReLU blocks, tanh, L2 normalisation.
    fn head(&self, pooled: &[f32; DIM]) -> Vec<f32> {
        let mut y0 = [0f32; HIDDEN];
        self.d0.mul_add(pooled, DIM, 1, &mut y0);
        relu(&mut y0);
        let mut y1 = [0f32; HIDDEN];
        self.p1.mul_add(pooled, DIM, 1, &mut y1);
        self.d1.mul_add(&y0, HIDDEN, 1, &mut y1);
        relu(&mut y1);
        let mut y2 = [0f32; DIM];
        self.d2.mul_add(&y1, HIDDEN, 1, &mut y2);
        relu(&mut y2);
        let mut z = [0f32; DIM];
        self.p3.mul_add(&y1, HIDDEN, 1, &mut z);
        self.d3.mul_add(&y2, DIM, 1, &mut z);
        z.iter_mut().for_each(|v| *v = v.tanh());
        let norm = z.iter().map(|v| v * v).sum::<f32>().max(self.eps).sqrt();
        z.iter_mut().for_each(|v| *v /= norm);
        z.to_vec()
    }
}

/// One residual convolution over `order`-gram windows: `relu(window @ w + b) + input`.
/// Window slots outside the sentence read zeros, as the reference pads: the input is
/// copied between `left` rows of zeros and `order - 1 - left` more, so the window of
/// token `t` is the contiguous run of rows `t .. t + order` and the product reads it in
/// place.
fn conv_block(input: &[f32], n: usize, branch: &CnnBranch, w: &Weights, b: &[f32]) -> Vec<f32> {
    debug_assert_eq!(w.rows(), branch.order * CNN);
    let mut padded = vec![0f32; (n + branch.order - 1) * CNN];
    padded[branch.left * CNN..(branch.left + n) * CNN].copy_from_slice(&input[..n * CNN]);
    let mut out = vec![0f32; n * CNN];
    for row in out.chunks_exact_mut(CNN) {
        row.copy_from_slice(b);
    }
    w.mul_add(&padded, CNN, n, &mut out);
    for (o, i) in out.iter_mut().zip(input) {
        *o = o.max(0.0) + i;
    }
    out
}

/// `out += scale · row`, for the int8 static vectors; compiled for AVX2 too and picked
/// at run time.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+sse4.1"))]
/// `row` holds i8 values as bytes.
fn add_scaled_i8(out: &mut [f32], row: &[u8], scale: f32) {
    for (o, &q) in out.iter_mut().zip(row) {
        *o += scale * f32::from(q as i8);
    }
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// Layer norm of one row. Its sums run in 16 independent lanes and the function is
/// compiled for AVX-512 and AVX2 too: with one running sum, each addition waits on the
/// last, and the exact network's layer norms alone took a fifth of its time.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn layer_norm(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = lane_sum(row, |v| v) / n;
    row.iter_mut().for_each(|v| *v -= mean);
    let var = lane_sum(row, |v| v * v) / n;
    let inv = (var + eps).sqrt().recip();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = *v * inv * g + b;
    }
}

/// `Σ f(v)` over `row` in 16 lanes (the order of additions differs from a running
/// sum's by rounding only).
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for i in 0..LANES {
            lanes[i] += f(chunk[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}
