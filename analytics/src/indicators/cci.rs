//! CCI(p): the typical price `(high + low + close) / 3` of the last bar against the mean of
//! the last `p`, in units of 0.015 mean absolute deviations; 0 when the difference or the
//! deviation is within TA-Lib 0.8's relative epsilon (1e-14 × |mean|) of zero.
//!
//! TA-Lib sums the `p` typical prices in the order of its circular buffer (position modulo
//! `p`, counted from the window's first bar), not oldest first; the same order is used here,
//! so a flat window's mean rounds alike (its residue is what the epsilon test sees).

use super::{bind, dbl, EPSILON};

/// Null with fewer than `p` bars.
pub fn sql(bars: &str, p: u32) -> String {
    let tp = |b: &str| format!("(({b}.high + {b}.low + {b}.close) / 3D)");
    let n = format!("size({bars})");
    let ordered = format!(
        "transform(sequence(0, {pm1}), j -> {})",
        tp(&format!(
            "element_at({bars}, {n} - {p} + pmod(j - ({n} - {p}), {p}) + 1)"
        )),
        pm1 = p - 1
    );
    let body = bind(
        &format!("aggregate(t, 0D, (acc, x) -> acc + x) / {p}"),
        "avg",
        &bind(
            &format!(
                "named_struct('d', {} - avg, \
                 'md', aggregate(t, 0D, (acc, x) -> acc + abs(x - avg)) / {p})",
                tp(&format!("element_at({bars}, -1)"))
            ),
            "c",
            &format!(
                "IF(abs(c.d) <= {EPSILON} * abs(avg) OR abs(c.md) <= {EPSILON} * abs(avg) \
                 OR c.md * {k} = 0D, 0D, c.d / (c.md * {k}))",
                k = dbl(0.015)
            ),
        ),
    );
    format!("IF({n} >= {p}, {}, NULL)", bind(&ordered, "t", &body))
}
