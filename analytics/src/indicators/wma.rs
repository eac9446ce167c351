//! WMA(p): the last `p` closes weighted 1 (oldest) to `p` (newest), divided by `p(p+1)/2`.
//! TA-Lib keeps running sums instead; the two differ by float rounding only.

use super::{dbl, last_n};

/// Null with fewer than `p` values.
pub fn sql(a: &str, p: u32) -> String {
    let divider = dbl(f64::from(p) * f64::from(p + 1) / 2.0);
    format!(
        "IF(size({a}) >= {p}, aggregate(zip_with({tail}, sequence(1, {p}), (x, w) -> x * w), \
         0D, (acc, y) -> acc + y) / {divider}, NULL)",
        tail = last_n(a, p)
    )
}
