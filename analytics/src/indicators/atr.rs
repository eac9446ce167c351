//! ATR(p) and NATR(p): Wilder's average of the true range. The true range needs the close
//! before, so the first bar of the window has none. The first average is the mean of the first
//! `p` true ranges; each later one `atr·a + tr·(1 − a)` with `a = (p − 1)/p`, TA-Lib 0.8's
//! form (it fuses the first product into an `fma`, which Spark SQL lacks: the unfused form
//! differs by a few units in the last place).

use super::{consecutive, dbl, true_range};

/// Null with fewer than `p + 1` bars.
pub fn atr(bars: &str, p: u32) -> String {
    fold(bars, p, "s.atr")
}

/// ATR as a percentage of the last close; 0 when that close is 0.
pub fn natr(bars: &str, p: u32) -> String {
    let close = format!("element_at({bars}, -1).close");
    fold(
        bars,
        p,
        &format!("IF({close} = 0D, 0D, s.atr / {close} * 100D)"),
    )
}

/// The ATR fold over consecutive bars, finished with `finish` (of the state `s`).
fn fold(bars: &str, p: u32, finish: &str) -> String {
    let tr = true_range("x.p", "x.b");
    let a = f64::from(p - 1) / f64::from(p);
    format!(
        "aggregate({pairs}, named_struct('n', 0, 'atr', 0D), \
         (s, x) -> named_struct('n', s.n + 1, 'atr', CASE WHEN s.n < {pm1} THEN s.atr + {tr} \
         WHEN s.n = {pm1} THEN (s.atr + {tr}) / {p} ELSE s.atr * {a} + {tr} * {b} END), \
         s -> IF(s.n >= {p}, {finish}, NULL))",
        pairs = consecutive(bars),
        pm1 = p - 1,
        a = dbl(a),
        b = dbl(1.0 - a),
    )
}
