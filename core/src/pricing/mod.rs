//! Turns token counts into money exactly, so every recorded model call can carry a cost that sums without float drift.
//!
//! Amounts are integer nano-USD ([`NanoUsd`]); prices are integer nano-USD per
//! million tokens ([`ModelPrice`]). Nothing on the costing path touches `f64`.
//!
//! # Price list format
//!
//! [`shipped_prices`] parses the list compiled into the binary
//! (`core/src/pricing/prices.json`); [`parse_price_list`] parses an operator's
//! edited copy in the same format:
//!
//! ```json
//! {
//!   "prices": [
//!     {
//!       "model": "gpt-4o*",
//!       "provider": "openrouter",
//!       "input": "2.50",
//!       "output": "10.00",
//!       "cached_input": "1.25",
//!       "reasoning": "10.00",
//!       "effective_from": "2025-01-01T00:00:00Z",
//!       "effective_to": "2026-01-01T00:00:00Z",
//!       "note": "free text, ignored"
//!     }
//!   ]
//! }
//! ```
//!
//! - `model`: an exact model name, or a prefix ending in `*` (`*` anywhere
//!   else is rejected). Matching ignores ASCII case.
//! - `provider` (optional): the entry only applies to calls made through that
//!   provider; omitted or `null` means any provider.
//! - `input`, `output`, `cached_input`, `reasoning`: decimal USD per **one
//!   million** tokens, as strings so they are parsed exactly (at most 9
//!   decimal places). `cached_input` defaults to `input`, `reasoning` to
//!   `output`.
//! - `effective_from` (required) and `effective_to` (optional, exclusive):
//!   RFC 3339 instants. A price change is a second entry for the same model
//!   whose `effective_from` equals the first one's `effective_to`.
//! - Unknown keys are rejected, so a misspelt `cached_inptu` is an error rather
//!   than a silently ignored discount. Two entries with the same model and
//!   provider whose time ranges overlap are rejected as ambiguous.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const NANOS_PER_USD: i64 = 1_000_000_000;
const FRACTION_DIGITS: usize = 9;
const TOKENS_PER_PRICE_UNIT: i128 = 1_000_000;
const SHIPPED_PRICES_JSON: &str = include_str!("prices.json");

/// Why a price, an amount or a cost could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    #[error("{field} is negative ({value})")]
    NegativeTokens { field: &'static str, value: i64 },
    #[error(
        "cached_input_tokens ({cached}) exceeds input_tokens ({input}), which already include them"
    )]
    CachedExceedsInput { cached: i64, input: i64 },
    #[error("price {field} of {model_pattern:?} is negative ({value} nano-USD per million tokens)")]
    NegativePrice {
        model_pattern: String,
        field: &'static str,
        value: i64,
    },
    #[error("cost of {field} does not fit in i64 nano-USD")]
    Overflow { field: &'static str },
    #[error("invalid USD amount {input:?}: {reason}")]
    InvalidAmount { input: String, reason: &'static str },
    #[error("price list is not valid JSON of the expected shape: {message}")]
    PriceListSyntax { message: String },
    #[error("price list entry {index} ({model_pattern:?}): {reason}")]
    InvalidEntry {
        index: usize,
        model_pattern: String,
        reason: String,
    },
}

/// An amount of money in billionths of a US dollar.
///
/// Nano-USD keeps single-token costs of the cheapest models exact (one token at
/// $0.005 per million is 5 nano-USD) while still spanning ±9.2 billion USD.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NanoUsd(pub i64);

impl NanoUsd {
    pub const ZERO: NanoUsd = NanoUsd(0);

    pub fn checked_add(self, other: NanoUsd) -> Option<NanoUsd> {
        self.0.checked_add(other.0).map(NanoUsd)
    }

    /// Lossy; for display and charts only, never for sums.
    pub fn as_usd_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    /// Parses a non-negative decimal USD amount such as `"1.25"` exactly.
    ///
    /// Accepted: ASCII digits, optionally followed by `.` and 1 to 9 digits.
    /// Rejected: signs (prices and costs are never negative), exponents,
    /// whitespace, a bare `.5` or `5.`, and more than 9 decimal places, since
    /// those could not be represented without rounding.
    pub fn from_usd_str(s: &str) -> Result<NanoUsd, PricingError> {
        let invalid = |reason| PricingError::InvalidAmount {
            input: s.to_owned(),
            reason,
        };
        if s.starts_with('-') {
            return Err(invalid("negative amounts are not allowed"));
        }
        let (whole, fraction) = match s.split_once('.') {
            Some((_, "")) => return Err(invalid("missing digits after the decimal point")),
            Some((whole, fraction)) => (whole, fraction),
            None => (s, ""),
        };
        if whole.is_empty() {
            return Err(invalid("missing digits before the decimal point"));
        }
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !all_digits(fraction) {
            return Err(invalid("expected digits with an optional decimal point"));
        }
        if fraction.len() > FRACTION_DIGITS {
            return Err(invalid(
                "more than 9 decimal places (finer than one nano-USD)",
            ));
        }
        let too_large = || invalid("too large for nano-USD in i64");
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let fraction: i64 = if fraction.is_empty() {
            0
        } else {
            // Right-padding turns "25" into 250_000_000 nano-USD.
            format!("{fraction:0<FRACTION_DIGITS$}")
                .parse()
                .map_err(|_| too_large())?
        };
        whole
            .checked_mul(NANOS_PER_USD)
            .and_then(|n| n.checked_add(fraction))
            .map(NanoUsd)
            .ok_or_else(too_large)
    }
}

impl FromStr for NanoUsd {
    type Err = PricingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NanoUsd::from_usd_str(s)
    }
}

/// `$1.00`, `$0.001234`, `-$0.50`: rounded half away from zero to 6 decimals,
/// trailing zeros trimmed down to cents. An explicit precision (`{:.9}`) shows
/// exactly that many decimals, up to the full 9.
impl fmt::Display for NanoUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = f.precision().map_or(6, |p| p.min(FRACTION_DIGITS));
        let step = 10u128.pow((FRACTION_DIGITS - decimals) as u32);
        let rounded = (u128::from(self.0.unsigned_abs()) + step / 2) / step;
        let unit = 10u128.pow(decimals as u32);
        let (whole, fraction) = (rounded / unit, rounded % unit);

        // A tiny negative amount that rounds to zero should not print as "-$0.00".
        let sign = if self.0 < 0 && rounded != 0 { "-" } else { "" };
        if decimals == 0 {
            return write!(f, "{sign}${whole}");
        }
        let mut digits = format!("{fraction:0decimals$}");
        if f.precision().is_none() {
            let keep = digits.trim_end_matches('0').len().max(2);
            digits.truncate(keep);
        }
        write!(f, "{sign}${whole}.{digits}")
    }
}

/// The list price of one model (or model family) over one period of time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Exact model name, or a prefix followed by `*`; compared ignoring ASCII case.
    pub model_pattern: String,
    /// `None` applies to every provider; `Some` only to calls through that one.
    pub provider: Option<String>,
    /// Nano-USD per million tokens.
    pub input_nusd_per_mtok: i64,
    pub output_nusd_per_mtok: i64,
    /// `None` bills cached input tokens at the input price.
    pub cached_input_nusd_per_mtok: Option<i64>,
    /// `None` bills reasoning tokens at the output price.
    pub reasoning_nusd_per_mtok: Option<i64>,
    /// Inclusive.
    pub effective_from: DateTime<Utc>,
    /// Exclusive; `None` means still in force.
    pub effective_to: Option<DateTime<Utc>>,
}

impl ModelPrice {
    fn prefix(&self) -> Option<&str> {
        self.model_pattern.strip_suffix('*')
    }

    fn matches_model(&self, model: &str) -> bool {
        match self.prefix() {
            Some(prefix) => model
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes())),
            None => model.eq_ignore_ascii_case(&self.model_pattern),
        }
    }

    fn matches_provider(&self, provider: Option<&str>) -> bool {
        match (&self.provider, provider) {
            (None, _) => true,
            (Some(wanted), Some(given)) => wanted.eq_ignore_ascii_case(given),
            (Some(_), None) => false,
        }
    }

    fn is_effective_at(&self, at: DateTime<Utc>) -> bool {
        self.effective_from <= at && self.effective_to.is_none_or(|to| at < to)
    }

    /// Larger is more specific; the order of the tuple is the order of precedence.
    fn specificity(&self) -> (bool, usize, bool, DateTime<Utc>) {
        let prefix = self.prefix();
        (
            prefix.is_none(),
            prefix.unwrap_or(&self.model_pattern).len(),
            self.provider.is_some(),
            self.effective_from,
        )
    }
}

/// Picks the price that applies to a call of `model` through `provider` at `at`.
///
/// Candidates must be in force at `at` (`effective_from <= at < effective_to`),
/// match the model, and have no provider or the given one (ignoring ASCII case;
/// so with `provider == None` only provider-less entries qualify). Among them:
/// an exact name beats a prefix, then the longest pattern wins, then a
/// provider-specific entry beats a provider-less one, then the latest
/// `effective_from` wins. Any remaining tie goes to the earliest entry in
/// `prices`, so the result never depends on anything but the input.
pub fn select_price<'a>(
    prices: &'a [ModelPrice],
    provider: Option<&str>,
    model: &str,
    at: DateTime<Utc>,
) -> Option<&'a ModelPrice> {
    prices
        .iter()
        .filter(|p| p.is_effective_at(at) && p.matches_model(model) && p.matches_provider(provider))
        .fold(None, |best: Option<&ModelPrice>, candidate| match best {
            Some(best) if best.specificity() >= candidate.specificity() => Some(best),
            _ => Some(candidate),
        })
}

/// Token counts of one model call, in the shape [`compute_cost`] bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// All prompt tokens, cached ones included.
    pub input_tokens: i64,
    /// Completion tokens, reasoning tokens excluded.
    pub output_tokens: i64,
    /// The part of `input_tokens` served from the provider's prompt cache.
    pub cached_input_tokens: i64,
    /// Hidden reasoning/thinking tokens, in addition to `output_tokens`.
    pub reasoning_tokens: i64,
}

/// The exact cost of `usage` at `price`.
///
/// Billing:
///
/// ```text
/// (input_tokens - cached_input_tokens) * input price
///   + cached_input_tokens * cached input price (input price if unset)
///   + output_tokens * output price
///   + reasoning_tokens * reasoning price (output price if unset)
/// ```
///
/// divided by one million once, rounding half up, so a single token at
/// $0.15 per million is exactly 150 nano-USD and sub-nano remainders round
/// only once per call rather than once per term.
///
/// Counting conventions callers must map their provider's usage onto:
///
/// - `input_tokens` includes the cached tokens, as OpenAI's `prompt_tokens`
///   and Gemini's `promptTokenCount` do. Anthropic reports them apart, so pass
///   `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` and
///   `cached_input_tokens = cache_read_input_tokens`; cache writes are then
///   billed at the plain input price, since their surcharge is not modelled.
/// - `reasoning_tokens` are billed *on top of* `output_tokens`, as Gemini's
///   `thoughtsTokenCount` is reported apart from `candidatesTokenCount`. This
///   keeps a separate reasoning price possible. OpenAI's `completion_tokens`
///   already contains its `reasoning_tokens`: pass
///   `output_tokens = completion_tokens - reasoning_tokens`, or pass the whole
///   `completion_tokens` with `reasoning_tokens = 0`, never both.
///
/// # Errors
///
/// A negative count or price, cached tokens exceeding input tokens, or a cost
/// beyond `i64` nano-USD (about 9.2 billion USD), each naming the field.
pub fn compute_cost(price: &ModelPrice, usage: &TokenUsage) -> Result<NanoUsd, PricingError> {
    for (field, value) in [
        ("input_tokens", usage.input_tokens),
        ("output_tokens", usage.output_tokens),
        ("cached_input_tokens", usage.cached_input_tokens),
        ("reasoning_tokens", usage.reasoning_tokens),
    ] {
        if value < 0 {
            return Err(PricingError::NegativeTokens { field, value });
        }
    }
    if usage.cached_input_tokens > usage.input_tokens {
        return Err(PricingError::CachedExceedsInput {
            cached: usage.cached_input_tokens,
            input: usage.input_tokens,
        });
    }

    let cached_price = price
        .cached_input_nusd_per_mtok
        .unwrap_or(price.input_nusd_per_mtok);
    let reasoning_price = price
        .reasoning_nusd_per_mtok
        .unwrap_or(price.output_nusd_per_mtok);
    let terms = [
        (
            "input_tokens",
            "input",
            usage.input_tokens - usage.cached_input_tokens,
            price.input_nusd_per_mtok,
        ),
        (
            "cached_input_tokens",
            "cached_input",
            usage.cached_input_tokens,
            cached_price,
        ),
        (
            "output_tokens",
            "output",
            usage.output_tokens,
            price.output_nusd_per_mtok,
        ),
        (
            "reasoning_tokens",
            "reasoning",
            usage.reasoning_tokens,
            reasoning_price,
        ),
    ];

    let mut total: i128 = 0;
    for (field, price_field, tokens, per_mtok) in terms {
        if per_mtok < 0 {
            return Err(PricingError::NegativePrice {
                model_pattern: price.model_pattern.clone(),
                field: price_field,
                value: per_mtok,
            });
        }
        // Two non-negative i64 factors are below 2^126, so the product cannot overflow.
        let term = i128::from(tokens) * i128::from(per_mtok);
        if term / TOKENS_PER_PRICE_UNIT > i128::from(i64::MAX) {
            return Err(PricingError::Overflow { field });
        }
        total = total
            .checked_add(term)
            .ok_or(PricingError::Overflow { field: "total" })?;
    }
    let rounded = (total + TOKENS_PER_PRICE_UNIT / 2) / TOKENS_PER_PRICE_UNIT;
    i64::try_from(rounded)
        .map(NanoUsd)
        .map_err(|_| PricingError::Overflow { field: "total" })
}

/// The price list compiled into the binary; see the module docs for its format.
pub fn shipped_prices() -> Result<Vec<ModelPrice>, PricingError> {
    parse_price_list(SHIPPED_PRICES_JSON)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    prices: Vec<PriceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    model: String,
    #[serde(default)]
    provider: Option<String>,
    input: String,
    output: String,
    #[serde(default)]
    cached_input: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    effective_from: DateTime<Utc>,
    #[serde(default)]
    effective_to: Option<DateTime<Utc>>,
    // Lets operators annotate an entry without a comment syntax JSON lacks.
    #[serde(default, rename = "note")]
    _note: Option<String>,
}

/// Parses a price list in the format described in the module docs.
pub fn parse_price_list(json: &str) -> Result<Vec<ModelPrice>, PricingError> {
    let file: PriceFile =
        serde_json::from_str(json).map_err(|e| PricingError::PriceListSyntax {
            message: e.to_string(),
        })?;
    let mut prices = Vec::with_capacity(file.prices.len());
    for (index, entry) in file.prices.into_iter().enumerate() {
        let invalid = |reason: String| PricingError::InvalidEntry {
            index,
            model_pattern: entry.model.clone(),
            reason,
        };
        let amount = |field: &str, text: &str| {
            NanoUsd::from_usd_str(text)
                .map(|n| n.0)
                .map_err(|e| invalid(format!("{field}: {e}")))
        };
        let optional_amount = |field: &str, text: &Option<String>| {
            text.as_deref().map(|t| amount(field, t)).transpose()
        };

        if entry.model.is_empty() {
            return Err(invalid("model is empty".to_owned()));
        }
        if entry.model.trim_end_matches('*').contains('*') || entry.model.ends_with("**") {
            return Err(invalid("`*` is only allowed once, at the end".to_owned()));
        }
        if entry.provider.as_deref().is_some_and(str::is_empty) {
            return Err(invalid(
                "provider is empty; omit it to match every provider".to_owned(),
            ));
        }
        if entry
            .effective_to
            .is_some_and(|to| to <= entry.effective_from)
        {
            return Err(invalid(
                "effective_to must be later than effective_from".to_owned(),
            ));
        }
        let price = ModelPrice {
            input_nusd_per_mtok: amount("input", &entry.input)?,
            output_nusd_per_mtok: amount("output", &entry.output)?,
            cached_input_nusd_per_mtok: optional_amount("cached_input", &entry.cached_input)?,
            reasoning_nusd_per_mtok: optional_amount("reasoning", &entry.reasoning)?,
            model_pattern: entry.model.clone(),
            provider: entry.provider.clone(),
            effective_from: entry.effective_from,
            effective_to: entry.effective_to,
        };
        if let Some(other) = prices.iter().find(|p| overlaps(p, &price)) {
            return Err(invalid(format!(
                "overlaps another entry for the same model and provider (from {})",
                other.effective_from
            )));
        }
        prices.push(price);
    }
    Ok(prices)
}

fn overlaps(a: &ModelPrice, b: &ModelPrice) -> bool {
    let same_provider = match (&a.provider, &b.provider) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    };
    let before = |x: DateTime<Utc>, end: Option<DateTime<Utc>>| end.is_none_or(|end| x < end);
    same_provider
        && a.model_pattern.eq_ignore_ascii_case(&b.model_pattern)
        && before(a.effective_from, b.effective_to)
        && before(b.effective_from, a.effective_to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test timestamp")
    }

    fn price(pattern: &str, input: i64, output: i64) -> ModelPrice {
        ModelPrice {
            model_pattern: pattern.to_owned(),
            provider: None,
            input_nusd_per_mtok: input,
            output_nusd_per_mtok: output,
            cached_input_nusd_per_mtok: None,
            reasoning_nusd_per_mtok: None,
            effective_from: at("2025-01-01T00:00:00Z"),
            effective_to: None,
        }
    }

    fn usage(input: i64, cached: i64, output: i64, reasoning: i64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
            reasoning_tokens: reasoning,
        }
    }

    fn usd(s: &str) -> i64 {
        NanoUsd::from_usd_str(s).expect("test amount").0
    }

    const NOW: &str = "2025-09-01T00:00:00Z";

    #[test]
    fn one_token_at_fifteen_cents_per_million_is_150_nano_usd() {
        let p = price("gpt-4o-mini", usd("0.15"), usd("0.60"));
        assert_eq!(compute_cost(&p, &usage(1, 0, 0, 0)), Ok(NanoUsd(150)));
        assert_eq!(compute_cost(&p, &usage(0, 0, 1, 0)), Ok(NanoUsd(600)));
    }

    #[test]
    fn large_counts_are_exact() {
        let p = price("gpt-4o", usd("2.50"), usd("10.00"));
        // 1_234_567 * 2_500_000_000 / 1_000_000 = 3_086_417_500 exactly.
        assert_eq!(
            compute_cost(&p, &usage(1_234_567, 0, 0, 0)),
            Ok(NanoUsd(3_086_417_500))
        );
        assert_eq!(
            compute_cost(&p, &usage(1_000_000, 0, 1_000_000, 0)),
            Ok(NanoUsd(usd("12.50")))
        );
    }

    #[test]
    fn rounds_half_up_once_at_the_million_boundary() {
        // Half a nano-USD per token.
        let p = price("m", 500_000, 0);
        assert_eq!(compute_cost(&p, &usage(1, 0, 0, 0)), Ok(NanoUsd(1)));
        assert_eq!(compute_cost(&p, &usage(2, 0, 0, 0)), Ok(NanoUsd(1)));
        assert_eq!(compute_cost(&p, &usage(3, 0, 0, 0)), Ok(NanoUsd(2)));
        let just_below = price("m", 499_999, 0);
        assert_eq!(
            compute_cost(&just_below, &usage(1, 0, 0, 0)),
            Ok(NanoUsd(0))
        );
        let just_above = price("m", 1_499_999, 0);
        assert_eq!(
            compute_cost(&just_above, &usage(1, 0, 0, 0)),
            Ok(NanoUsd(1))
        );
        // Rounding per term would give 0 + 0; rounding the sum gives 1.
        let mut two_halves = price("m", 400_000, 100_000);
        two_halves.cached_input_nusd_per_mtok = Some(0);
        assert_eq!(
            compute_cost(&two_halves, &usage(1, 0, 1, 0)),
            Ok(NanoUsd(1))
        );
        assert_eq!(compute_cost(&p, &TokenUsage::default()), Ok(NanoUsd::ZERO));
    }

    #[test]
    fn cached_tokens_fall_back_to_input_price() {
        let p = price("m", usd("2.50"), usd("10.00"));
        assert_eq!(
            compute_cost(&p, &usage(1_000_000, 400_000, 0, 0)),
            Ok(NanoUsd(usd("2.50")))
        );
    }

    #[test]
    fn cached_tokens_use_cached_price_and_are_part_of_input() {
        let mut p = price("m", usd("2.50"), usd("10.00"));
        p.cached_input_nusd_per_mtok = Some(usd("1.25"));
        // 600k uncached at 2.50 + 400k cached at 1.25 = 1.50 + 0.50.
        assert_eq!(
            compute_cost(&p, &usage(1_000_000, 400_000, 0, 0)),
            Ok(NanoUsd(usd("2.00")))
        );
        assert_eq!(
            compute_cost(&p, &usage(1_000, 1_000, 0, 0)),
            Ok(NanoUsd(1_250_000))
        );
    }

    #[test]
    fn reasoning_tokens_are_billed_on_top_of_output() {
        let mut p = price("m", usd("1.00"), usd("8.00"));
        assert_eq!(
            compute_cost(&p, &usage(0, 0, 1_000, 3_000)),
            Ok(NanoUsd(32_000_000))
        );
        p.reasoning_nusd_per_mtok = Some(usd("3.50"));
        assert_eq!(
            compute_cost(&p, &usage(0, 0, 1_000, 2_000)),
            Ok(NanoUsd(8_000_000 + 7_000_000))
        );
    }

    #[test]
    fn negative_counts_are_rejected_by_field() {
        let p = price("m", 1, 1);
        assert_eq!(
            compute_cost(&p, &usage(-1, 0, 0, 0)),
            Err(PricingError::NegativeTokens {
                field: "input_tokens",
                value: -1
            })
        );
        assert_eq!(
            compute_cost(&p, &usage(5, 0, 0, -7)),
            Err(PricingError::NegativeTokens {
                field: "reasoning_tokens",
                value: -7
            })
        );
        assert!(matches!(
            compute_cost(&p, &usage(5, -1, 0, 0)),
            Err(PricingError::NegativeTokens {
                field: "cached_input_tokens",
                ..
            })
        ));
        assert!(matches!(
            compute_cost(&p, &usage(5, 0, -1, 0)),
            Err(PricingError::NegativeTokens {
                field: "output_tokens",
                ..
            })
        ));
    }

    #[test]
    fn cached_above_input_is_rejected() {
        let p = price("m", 1, 1);
        assert_eq!(
            compute_cost(&p, &usage(10, 11, 0, 0)),
            Err(PricingError::CachedExceedsInput {
                cached: 11,
                input: 10
            })
        );
    }

    #[test]
    fn negative_prices_are_rejected() {
        let mut p = price("m", 1, 1);
        p.cached_input_nusd_per_mtok = Some(-5);
        assert!(matches!(
            compute_cost(&p, &usage(1, 1, 0, 0)),
            Err(PricingError::NegativePrice {
                field: "cached_input",
                value: -5,
                ..
            })
        ));
    }

    #[test]
    fn overflow_names_the_field() {
        let p = price("m", usd("1000"), usd("1000"));
        assert_eq!(
            compute_cost(&p, &usage(i64::MAX, 0, 0, 0)),
            Err(PricingError::Overflow {
                field: "input_tokens"
            })
        );
        assert_eq!(
            compute_cost(&p, &usage(0, 0, 0, i64::MAX)),
            Err(PricingError::Overflow {
                field: "reasoning_tokens"
            })
        );
        // Each term fits alone, their sum does not.
        let max_tokens_per_term = i64::MAX / usd("1000") * 1_000_000;
        assert_eq!(
            compute_cost(&p, &usage(max_tokens_per_term, 0, max_tokens_per_term, 0)),
            Err(PricingError::Overflow { field: "total" })
        );
        // The largest prices and counts overflow cleanly instead of panicking.
        let huge = price("m", i64::MAX, i64::MAX);
        assert!(matches!(
            compute_cost(&huge, &usage(i64::MAX, i64::MAX, i64::MAX, i64::MAX)),
            Err(PricingError::Overflow { .. })
        ));
    }

    #[test]
    fn exact_match_beats_prefix() {
        let prices = [
            price("gpt-4o*", 1, 1),
            price("gpt-4o", 2, 2),
            price("gpt-4o-mini*", 3, 3),
        ];
        let pick =
            |model| select_price(&prices, None, model, at(NOW)).map(|p| p.input_nusd_per_mtok);
        assert_eq!(pick("gpt-4o"), Some(2));
        assert_eq!(pick("gpt-4o-2024-08-06"), Some(1));
        assert_eq!(pick("gpt-4o-mini-2024-07-18"), Some(3));
        assert_eq!(pick("gpt-4"), None);
        assert_eq!(pick("gpt-4.1"), None);
    }

    #[test]
    fn longest_prefix_wins_regardless_of_order() {
        let mut prices = vec![
            price("claude-*", 1, 1),
            price("claude-sonnet-4*", 2, 2),
            price("claude-sonnet-*", 3, 3),
        ];
        for _ in 0..3 {
            let chosen = select_price(&prices, None, "claude-sonnet-4-5-20250929", at(NOW));
            assert_eq!(chosen.map(|p| p.input_nusd_per_mtok), Some(2));
            prices.rotate_left(1);
        }
    }

    #[test]
    fn provider_specific_beats_generic_and_filters_others() {
        let mut openrouter = price("gpt-4o*", 2, 2);
        openrouter.provider = Some("OpenRouter".to_owned());
        let mut azure = price("gpt-4o*", 3, 3);
        azure.provider = Some("azure".to_owned());
        let prices = [price("gpt-4o*", 1, 1), openrouter, azure];
        let pick = |provider| {
            select_price(&prices, provider, "gpt-4o", at(NOW)).map(|p| p.input_nusd_per_mtok)
        };
        assert_eq!(pick(Some("openrouter")), Some(2));
        assert_eq!(pick(Some("AZURE")), Some(3));
        assert_eq!(pick(Some("openai")), Some(1));
        assert_eq!(pick(None), Some(1));

        // Specificity of the pattern outranks the provider.
        let mut routed_prefix = price("gpt-*", 4, 4);
        routed_prefix.provider = Some("openrouter".to_owned());
        let prices = [routed_prefix, price("gpt-4o*", 1, 1)];
        let chosen = select_price(&prices, Some("openrouter"), "gpt-4o", at(NOW));
        assert_eq!(chosen.map(|p| p.input_nusd_per_mtok), Some(1));
    }

    #[test]
    fn matching_ignores_case() {
        let prices = [
            price("Anthropic/Claude-Sonnet-4*", 1, 1),
            price("GPT-4o", 2, 2),
        ];
        let pick =
            |model| select_price(&prices, None, model, at(NOW)).map(|p| p.input_nusd_per_mtok);
        assert_eq!(pick("anthropic/claude-sonnet-4.5"), Some(1));
        assert_eq!(pick("gpt-4O"), Some(2));
        assert_eq!(pick("ANTHROPIC/CLAUDE-SONNET-4"), Some(1));
        // A non-ASCII model name must not panic on a char boundary.
        assert_eq!(pick("ánthropic/claude-sonnet-4"), None);
    }

    #[test]
    fn effective_dates_select_the_price_in_force() {
        let change = at("2025-06-10T00:00:00Z");
        let mut old = price("o3*", usd("10"), usd("40"));
        old.effective_to = Some(change);
        let mut new = price("o3*", usd("2"), usd("8"));
        new.effective_from = change;
        let prices = [new, old];
        let pick = |when: &str| {
            select_price(&prices, None, "o3-2025-04-16", at(when)).map(|p| p.input_nusd_per_mtok)
        };
        assert_eq!(pick("2025-06-09T23:59:59Z"), Some(usd("10")));
        assert_eq!(pick("2025-06-10T00:00:00Z"), Some(usd("2")));
        assert_eq!(pick("2030-01-01T00:00:00Z"), Some(usd("2")));
        assert_eq!(pick("2024-12-31T23:59:59Z"), None);
    }

    #[test]
    fn later_effective_from_breaks_ties_then_list_order() {
        let mut newer = price("m", 2, 2);
        newer.effective_from = at("2025-03-01T00:00:00Z");
        let prices = [price("m", 1, 1), newer, price("m", 3, 3)];
        let chosen = select_price(&prices, None, "m", at(NOW));
        assert_eq!(chosen.map(|p| p.input_nusd_per_mtok), Some(2));
        let same = [price("m", 1, 1), price("m", 3, 3)];
        let chosen = select_price(&same, None, "m", at(NOW));
        assert_eq!(chosen.map(|p| p.input_nusd_per_mtok), Some(1));
    }

    #[test]
    fn from_usd_str_parses_exactly() {
        let parse = NanoUsd::from_usd_str;
        assert_eq!(parse("0"), Ok(NanoUsd(0)));
        assert_eq!(parse("0.000000001"), Ok(NanoUsd(1)));
        assert_eq!(parse("1.25"), Ok(NanoUsd(1_250_000_000)));
        assert_eq!(parse("2.50"), Ok(NanoUsd(2_500_000_000)));
        assert_eq!(parse("0.075"), Ok(NanoUsd(75_000_000)));
        assert_eq!(parse("600"), Ok(NanoUsd(600_000_000_000)));
        assert_eq!(parse("007.5"), Ok(NanoUsd(7_500_000_000)));
        assert_eq!(parse("9223372036.854775807"), Ok(NanoUsd(i64::MAX)));
        assert_eq!("0.15".parse::<NanoUsd>(), Ok(NanoUsd(150_000_000)));
    }

    #[test]
    fn from_usd_str_rejects_what_it_cannot_represent() {
        for bad in [
            "1.2345678901",
            "-1",
            "abc",
            "",
            ".5",
            "5.",
            "1.2.3",
            "+1",
            " 1",
            "1e3",
            "$1",
            "1,5",
            "9223372036.854775808",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    NanoUsd::from_usd_str(bad),
                    Err(PricingError::InvalidAmount { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn display_shows_up_to_six_decimals() {
        let show = |n: i64| NanoUsd(n).to_string();
        assert_eq!(show(1_234_000), "$0.001234");
        assert_eq!(show(1_234_499), "$0.001234");
        assert_eq!(show(1_234_500), "$0.001235");
        assert_eq!(show(0), "$0.00");
        assert_eq!(show(1), "$0.00");
        assert_eq!(show(1_000_000_000), "$1.00");
        assert_eq!(show(2_500_000_000), "$2.50");
        assert_eq!(show(12_345_678_900), "$12.345679");
        assert_eq!(show(10_000), "$0.00001");
        assert_eq!(show(-500_000_000), "-$0.50");
        assert_eq!(show(-1), "$0.00");
        assert_eq!(show(999_999_999), "$1.00");
        assert_eq!(show(i64::MIN), "-$9223372036.854776");
        assert_eq!(format!("{:.9}", NanoUsd(1)), "$0.000000001");
        assert_eq!(format!("{:.2}", NanoUsd(1_234_000)), "$0.00");
        assert_eq!(format!("{:.0}", NanoUsd(1_500_000_000)), "$2");
    }

    #[test]
    fn nano_usd_helpers() {
        assert_eq!(NanoUsd(1).checked_add(NanoUsd(2)), Some(NanoUsd(3)));
        assert_eq!(NanoUsd(i64::MAX).checked_add(NanoUsd(1)), None);
        assert!((NanoUsd(1_500_000_000).as_usd_f64() - 1.5).abs() < f64::EPSILON);
        assert_eq!(
            serde_json::to_string(&NanoUsd(42)).ok().as_deref(),
            Some("42")
        );
        assert_eq!(
            serde_json::from_str::<NanoUsd>("42").ok(),
            Some(NanoUsd(42))
        );
    }

    #[test]
    fn shipped_list_parses_and_every_entry_resolves() {
        let prices = shipped_prices().expect("shipped price list must parse");
        assert!(prices.len() > 40);
        for p in &prices {
            let name = p.model_pattern.trim_end_matches('*');
            let chosen = select_price(&prices, p.provider.as_deref(), name, p.effective_from)
                .unwrap_or_else(|| panic!("{} does not resolve", p.model_pattern));
            // Only an exact entry of the same name may shadow a prefix entry.
            assert!(
                std::ptr::eq(chosen, p) || chosen.model_pattern.eq_ignore_ascii_case(name),
                "{} resolves to {}",
                p.model_pattern,
                chosen.model_pattern
            );
            assert!(p.input_nusd_per_mtok > 0 && p.output_nusd_per_mtok > 0);
            assert!(
                p.cached_input_nusd_per_mtok
                    .is_none_or(|c| c <= p.input_nusd_per_mtok),
                "{} caches dearer than input",
                p.model_pattern
            );
        }
    }

    #[test]
    fn shipped_list_covers_the_common_models() {
        let prices = shipped_prices().expect("shipped price list must parse");
        let now = at("2026-01-15T00:00:00Z");
        let input_price = |provider, model| {
            select_price(&prices, provider, model, now)
                .map(|p| NanoUsd(p.input_nusd_per_mtok).to_string())
                .unwrap_or_else(|| format!("no price for {model}"))
        };
        let direct = [
            ("gpt-4o-2024-08-06", "$2.50"),
            ("gpt-4o-mini", "$0.15"),
            ("gpt-4.1-nano-2025-04-14", "$0.10"),
            ("o3", "$2.00"),
            ("o3-mini", "$1.10"),
            ("o4-mini-2025-04-16", "$1.10"),
            ("gpt-5", "$1.25"),
            ("gpt-5-mini-2025-08-07", "$0.25"),
            ("gpt-5-nano", "$0.05"),
            ("claude-opus-4-20250514", "$15.00"),
            ("claude-opus-4-1-20250805", "$15.00"),
            ("claude-opus-4-5-20251101", "$5.00"),
            ("claude-sonnet-4-5-20250929", "$3.00"),
            ("claude-3-5-haiku-20241022", "$0.80"),
            ("claude-haiku-4-5", "$1.00"),
            ("gemini-2.5-pro", "$1.25"),
            ("gemini-2.5-flash", "$0.30"),
            ("gemini-2.5-flash-lite", "$0.10"),
            ("gemini-2.0-flash-001", "$0.10"),
        ];
        for (model, expected) in direct {
            assert_eq!(input_price(None, model), expected, "{model}");
            assert_eq!(input_price(Some("openai"), model), expected, "{model}");
        }
        let routed = [
            ("openai/gpt-4o", "$2.50"),
            ("openai/gpt-5-mini", "$0.25"),
            ("anthropic/claude-opus-4", "$15.00"),
            ("anthropic/claude-opus-4.1", "$15.00"),
            ("anthropic/claude-opus-4.5", "$5.00"),
            ("anthropic/claude-sonnet-4.5", "$3.00"),
            ("anthropic/claude-3.5-haiku", "$0.80"),
            ("google/gemini-2.5-flash", "$0.30"),
            ("google/gemini-2.0-flash-001", "$0.10"),
        ];
        for (model, expected) in routed {
            assert_eq!(input_price(Some("openrouter"), model), expected, "{model}");
        }
        assert_eq!(
            input_price(None, "openai/gpt-4o"),
            "no price for openai/gpt-4o"
        );
        let old_o3 = select_price(&prices, None, "o3", at("2025-05-01T00:00:00Z"));
        assert_eq!(old_o3.map(|p| p.input_nusd_per_mtok), Some(usd("10")));
    }

    #[test]
    fn price_list_errors_are_typed() {
        let entry = |fields: &str| {
            format!(
                r#"{{"prices": [{{"model": "m*", "input": "1", "output": "2", "effective_from": "2025-01-01T00:00:00Z"{fields}}}]}}"#
            )
        };
        let ok = parse_price_list(&entry(r#", "cached_input": "0.5", "note": "x""#))
            .expect("valid entry");
        assert_eq!(ok[0].cached_input_nusd_per_mtok, Some(500_000_000));
        assert_eq!(ok[0].reasoning_nusd_per_mtok, None);

        assert!(matches!(
            parse_price_list(&entry(r#", "cached_inptu": "0.5""#)),
            Err(PricingError::PriceListSyntax { .. })
        ));
        assert!(matches!(
            parse_price_list("not json"),
            Err(PricingError::PriceListSyntax { .. })
        ));
        for bad in [
            r#", "reasoning": "1.2345678901""#,
            r#", "effective_to": "2025-01-01T00:00:00Z""#,
            r#", "provider": """#,
        ] {
            assert!(
                matches!(
                    parse_price_list(&entry(bad)),
                    Err(PricingError::InvalidEntry { index: 0, .. })
                ),
                "{bad}"
            );
        }
        let star_inside = r#"{"prices": [{"model": "g*pt", "input": "1", "output": "2", "effective_from": "2025-01-01T00:00:00Z"}]}"#;
        assert!(matches!(
            parse_price_list(star_inside),
            Err(PricingError::InvalidEntry { .. })
        ));
    }

    #[test]
    fn overlapping_entries_are_rejected_but_successive_ones_accepted() {
        let list = |first_to: &str| {
            format!(
                r#"{{"prices": [
                    {{"model": "o3*", "input": "10", "output": "40", "effective_from": "2025-01-01T00:00:00Z", "effective_to": "{first_to}"}},
                    {{"model": "O3*", "input": "2", "output": "8", "effective_from": "2025-06-10T00:00:00Z"}}
                ]}}"#
            )
        };
        assert!(parse_price_list(&list("2025-06-10T00:00:00Z")).is_ok());
        assert!(matches!(
            parse_price_list(&list("2025-06-11T00:00:00Z")),
            Err(PricingError::InvalidEntry { index: 1, .. })
        ));
    }
}
