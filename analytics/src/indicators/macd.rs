//! MACD(fast, slow, signal) as TA-Lib computes it, in one fold: the slow EMA summed over
//! positions `0..slow`, the fast one over `slow-fast..slow`, both seeded at `slow-1`; the
//! signal line summed over the first `signal` MACD values, then an EMA of them.

use super::alpha;

/// The outputs: the MACD line, its signal line, and their difference.
pub const OUTPUTS: [&str; 3] = ["macd", "signal", "hist"];

/// A struct of [`OUTPUTS`], null before position `slow + signal - 2`.
pub fn sql(a: &str, f: u32, sl: u32, g: u32) -> String {
    let seed = sl - 1;
    let slow = format!(
        "CASE WHEN s.n < {seed} THEN s.slow + x WHEN s.n = {seed} THEN (s.slow + x) / {sl} \
         ELSE (x - s.slow) * {k} + s.slow END",
        k = alpha(sl)
    );
    let fast = format!(
        "CASE WHEN s.n < {start} THEN 0D WHEN s.n < {seed} THEN s.fast + x \
         WHEN s.n = {seed} THEN (s.fast + x) / {f} ELSE (x - s.fast) * {k} + s.fast END",
        start = sl - f,
        k = alpha(f)
    );
    let m = format!("(({fast}) - ({slow}))");
    let sig_seed = seed + g - 1;
    let sig = format!(
        "CASE WHEN s.n < {seed} THEN 0D WHEN s.n < {sig_seed} THEN s.sig + {m} \
         WHEN s.n = {sig_seed} THEN (s.sig + {m}) / {g} ELSE ({m} - s.sig) * {k} + s.sig END",
        k = alpha(g)
    );
    format!(
        "aggregate({a}, named_struct('n', 0, 'slow', 0D, 'fast', 0D, 'sig', 0D), \
         (s, x) -> named_struct('n', s.n + 1, 'slow', {slow}, 'fast', {fast}, 'sig', {sig}), \
         s -> IF(s.n >= {need}, named_struct('macd', s.fast - s.slow, 'signal', s.sig, \
         'hist', (s.fast - s.slow) - s.sig), NULL))",
        need = sl + g - 1,
    )
}
