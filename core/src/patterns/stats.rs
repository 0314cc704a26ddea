//! The statistics a reported pattern must pass: Fisher's exact test on a 2×2 table of session
//! counts, Benjamini–Hochberg q-values over the whole family of tests, and score intervals for
//! the rates and their difference, so every figure a pattern shows comes with its uncertainty.

use statrs::stats_tests::{Alternative, fishers_exact};

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Sessions in a group and how many of them show a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub with_signal: u64,
    pub sessions: u64,
}

impl Count {
    pub fn rate(self) -> f64 {
        if self.sessions == 0 {
            0.0
        } else {
            self.with_signal as f64 / self.sessions as f64
        }
    }
}

/// One-sided Fisher's exact test: the probability, with the table's margins fixed, of a group
/// rate at least as far above the baseline's as the one seen. Exact for any counts, so it stays
/// honest for the small groups cross-session mining is full of.
pub fn fisher_greater(group: Count, baseline: Count) -> f64 {
    let table = [
        group.with_signal,
        group.sessions - group.with_signal,
        baseline.with_signal,
        baseline.sessions - baseline.with_signal,
    ];
    fishers_exact(&table, Alternative::Greater).unwrap_or(1.0)
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the input's order: a hypothesis is a
/// discovery at false-discovery rate `α` exactly when its q-value is ≤ `α`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut q = vec![1.0; m];
    let mut running_min = 1.0_f64;
    for (rank, &index) in order.iter().enumerate().rev() {
        let adjusted = p_values[index] * m as f64 / (rank + 1) as f64;
        running_min = running_min.min(adjusted);
        q[index] = running_min.min(1.0);
    }
    q
}

/// The smallest p-value [`fisher_greater`] could give with these margins: every session showing
/// the signal inside the group, as far as the group's size allows.
pub fn fisher_greater_floor(group_sessions: u64, signal_sessions: u64, total_sessions: u64) -> f64 {
    let inside = group_sessions.min(signal_sessions);
    fisher_greater(
        Count {
            with_signal: inside,
            sessions: group_sessions,
        },
        Count {
            with_signal: signal_sessions - inside,
            sessions: total_sessions - group_sessions,
        },
    )
}

/// Which hypotheses form the family Benjamini–Hochberg is applied to, by Gilbert's (2005)
/// Tarone-style screen for discrete tests: with `floors` the smallest p-value each hypothesis
/// could reach given its margins, the family is the hypotheses whose floor is at most `α / K`,
/// for the smallest `K` such that no more than `K` hypotheses qualify. A hypothesis that could
/// never be significant does not dilute the others; the margins, not the outcomes, decide, so
/// the false-discovery rate stays controlled.
pub fn tarone_family(floors: &[f64], alpha: f64) -> Vec<bool> {
    let m = floors.len();
    for k in 1..=m.max(1) {
        let threshold = alpha / k as f64;
        let qualifying = floors.iter().filter(|floor| **floor <= threshold).count();
        if qualifying <= k {
            return floors.iter().map(|floor| *floor <= threshold).collect();
        }
    }
    vec![true; m]
}

/// Wilson score interval (95 %) of a rate.
pub fn wilson(count: Count) -> (f64, f64) {
    if count.sessions == 0 {
        return (0.0, 1.0);
    }
    let n = count.sessions as f64;
    let p = count.rate();
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Newcombe's hybrid score interval (95 %) of `rate(a) − rate(b)` (his method 10), which keeps
/// its coverage for small counts and rates near 0 or 1, unlike the Wald interval.
pub fn difference_interval(a: Count, b: Count) -> (f64, f64) {
    let (pa, pb) = (a.rate(), b.rate());
    let (la, ua) = wilson(a);
    let (lb, ub) = wilson(b);
    let difference = pa - pb;
    let lower = difference - ((pa - la).powi(2) + (ub - pb).powi(2)).sqrt();
    let upper = difference + ((ua - pa).powi(2) + (pb - lb).powi(2)).sqrt();
    (lower.max(-1.0), upper.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(with_signal: u64, sessions: u64) -> Count {
        Count {
            with_signal,
            sessions,
        }
    }

    #[test]
    fn fisher_matches_published_values() {
        // [[8, 2], [1, 5]]: P(X ≥ 8) for X ~ Hypergeometric(16, 9, 10) = (9·21 + 7) / C(16, 10).
        let p = fisher_greater(count(8, 10), count(1, 6));
        assert!((p - 196.0 / 8008.0).abs() < 1e-12, "{p}");
        // The tea-tasting table: [[3, 1], [1, 3]] gives 0.2428571...
        let p = fisher_greater(count(3, 4), count(1, 4));
        assert!((p - 0.242_857_142_857).abs() < 1e-9, "{p}");
        // A group rate below the baseline's is no evidence of enrichment.
        assert!(fisher_greater(count(1, 10), count(8, 10)) > 0.99);
    }

    #[test]
    fn benjamini_hochberg_matches_the_textbook_example() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.2), "BH")
        //  = 0.025 0.05 0.05 0.025 0.2
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005, 0.2]);
        let want = [0.025, 0.05, 0.05, 0.025, 0.2];
        for (got, want) in q.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn the_tarone_screen_drops_hypotheses_that_cannot_win() {
        // Three hypotheses could reach 1e-6, two could never go below 0.2.
        let floors = [1e-6, 1e-6, 1e-6, 0.2, 0.5];
        assert_eq!(
            tarone_family(&floors, 0.05),
            [true, true, true, false, false]
        );
        // With every floor low, all stay.
        assert_eq!(tarone_family(&[1e-9; 4], 0.05), [true; 4]);
        // A group of 3 sessions out of 100 with 3 showing the signal can still reach ~1.6e-3.
        let floor = fisher_greater_floor(3, 10, 100);
        assert!(floor < 1e-3, "{floor}");
    }

    #[test]
    fn intervals_match_newcombes_worked_example() {
        // Newcombe (1998), table II, example (a): 56/70 − 48/80, method 10: 0.0524 to 0.3339.
        let (lower, upper) = difference_interval(count(56, 70), count(48, 80));
        assert!((lower - 0.0524).abs() < 5e-4, "{lower}");
        assert!((upper - 0.3339).abs() < 5e-4, "{upper}");
        // Wilson for 0/10 still has room above zero.
        let (lower, upper) = wilson(count(0, 10));
        assert_eq!(lower, 0.0);
        assert!((upper - 0.2775).abs() < 5e-4, "{upper}");
    }
}
