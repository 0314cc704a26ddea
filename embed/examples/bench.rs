//! Single-thread latency of `SentenceEncoder::embed`.
//!
//! `LUX_MODEL_DIR=DIR cargo run --release --example bench`

use std::time::{Duration, Instant};

use lux_embed::SentenceEncoder;

/// ~2 KiB of English prose (2048 bytes after trimming to size below).
const PARAGRAPH: &str = "The small coastal town had always depended on the sea, but over the last \
twenty years its economy changed in ways that few residents had expected. Fishing boats that once \
filled the harbour at dawn were gradually replaced by sailing yachts and tour operators, and the old \
cannery on the north pier became a museum with a cafe on the ground floor. Younger people who had \
left for university began to return, drawn by cheaper rents than in the city and by the chance to \
work remotely with a view of the water. The local council responded by improving the railway \
connection, widening the cycle path along the cliffs, and converting an empty warehouse into shared \
offices. Not everyone welcomed the changes. Some long-time residents complained that holiday \
apartments were pushing up prices and that the high street now sold more souvenirs than groceries. \
Others pointed out that the school, which had been threatened with closure, was full again, and \
that the doctor's surgery had finally hired a second physician. At a public meeting in the spring, \
the mayor proposed a compromise: a limit on the number of short-term rentals in the historic centre, \
together with a fund to help families buy their first homes. The debate lasted well into the night. \
A retired fisherman argued that the town should not forget where it came from, while a young \
engineer described the new research station that planned to study offshore wind and tidal energy. \
In the end the proposal passed by a narrow margin, and the council agreed to review its effects \
after two years. Visitors arriving today will find a place that feels both old and new: nets \
drying beside electric car chargers, a bakery that still opens at five in the morning, and a \
harbour where the sound of gulls mixes with the quiet hum of laptops in the waterfront cafes. \
Whether this balance will last is uncertain, but for now the town seems to have found a way to \
welcome newcomers without entirely losing its character, and most people agree that it is a \
better place to live than it was a decade ago.";

const SENTENCE: &str = "After the meeting ended late on Thursday evening, the committee members \
walked together to the small restaurant near the station, where they discussed the budget, the new \
schedule, and the detailed plans for next summer's music festival by the river.";

fn stats(enc: &SentenceEncoder, text: &str, iters: usize) -> (Duration, Duration, Duration) {
    for _ in 0..iters / 10 + 3 {
        std::hint::black_box(enc.embed(text));
    }
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(enc.embed(std::hint::black_box(text)));
            s.elapsed()
        })
        .collect();
    t.sort();
    let tok = {
        let s = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(enc.token_ids(std::hint::black_box(text)));
        }
        s.elapsed() / iters as u32
    };
    (t[t.len() / 2], t[(t.len() * 99).div_ceil(100) - 1], tok)
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LUX_MODEL_DIR").ok())
        .expect("usage: bench MODEL_DIR (or set LUX_MODEL_DIR)");
    let t0 = Instant::now();
    let enc = SentenceEncoder::load(std::path::Path::new(&dir)).unwrap_or_else(|e| panic!("{e}"));
    println!("load: {:.0} ms", t0.elapsed().as_secs_f64() * 1e3);

    let mut para = PARAGRAPH.to_string();
    para.truncate(2048);
    for (name, text, iters) in [
        ("2 KiB paragraph", para.as_str(), 300),
        ("40-word sentence", SENTENCE, 3000),
    ] {
        let n = enc.token_ids(text).len();
        let (med, p99, tok) = stats(&enc, text, iters);
        println!(
            "{name:>17}: {} bytes, {} words, {n} tokens | median {:.3} ms  p99 {:.3} ms  (tokenise {:.3} ms) over {iters} runs",
            text.len(),
            text.split_whitespace().count(),
            med.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            tok.as_secs_f64() * 1e3
        );
    }
}
