//! How figures read on the pages: grouped digits, exact dollars, short durations, UTC times.

use chrono::{DateTime, Utc};
use lux_core::NanoUsd;

/// `1234567` → `1,234,567`.
pub(crate) fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Dollars from exact nano-USD: at least two decimals, at most six.
pub(crate) fn cost(cost: NanoUsd) -> String {
    cost.to_string()
}

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `850 ms`, `12.4 s`, `3 min 5 s`, `2 h 10 min`.
pub(crate) fn duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A score in 0..=1 with two decimals, or a dash.
pub(crate) fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.2}"))
}

/// A share in 0..=1 as a percentage.
pub(crate) fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A signed difference, `+3` or `-2`.
pub(crate) fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", count(n))
    } else {
        count(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_digits_in_threes() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(-45000), "-45,000");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_400), "12.4 s");
        assert_eq!(duration_ms(185_000), "3 min 5 s");
        assert_eq!(duration_ms(7_800_000), "2 h 10 min");
    }
}
