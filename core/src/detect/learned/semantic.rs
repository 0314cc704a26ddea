//! The sentence-embedding model the learned detectors use when it is installed: Google's
//! multilingual Universal Sentence Encoder v3 (512 dimensions, 16 languages), run in-process by
//! `lux-embed` from the files the build installs in the model directory (`embed/build.rs`). Without it the
//! detectors run on lexical features only, and every status report says "lexical fallback".

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use lux_embed::SentenceEncoder;

/// Name of the model, as status reports give it.
pub const MODEL_NAME: &str = "use-multilingual-v3";

/// Where the model lives (`LUX_MODEL_DIR`, else the user's cache; see `lux_embed`).
pub fn model_dir() -> PathBuf {
    lux_embed::default_model_dir()
}

static ENCODER: LazyLock<Option<Arc<SentenceEncoder>>> = LazyLock::new(|| {
    let dir = model_dir();
    match SentenceEncoder::load(&dir) {
        Ok(encoder) => {
            tracing::info!(model = MODEL_NAME, dir = %dir.display(), "sentence-embedding model loaded");
            Some(Arc::new(encoder))
        }
        Err(error) => {
            tracing::info!(
                %error,
                "no sentence-embedding model: the detectors run on lexical features (lexical fallback); \
                 the build installs it (embed/install-model.sh)"
            );
            None
        }
    }
});

/// Whether the model's files are in place (cheap: nothing is loaded). Choosing weights needs only
/// this; the model itself loads on the first step analysed.
pub fn installed() -> bool {
    let dir = model_dir();
    [lux_embed::WEIGHTS_FILE, lux_embed::TOKENIZER_FILE]
        .iter()
        .all(|file| dir.join(file).is_file())
}

/// The loaded model, once per process; `None` is the lexical fallback.
pub fn encoder() -> Option<Arc<SentenceEncoder>> {
    ENCODER.clone()
}
