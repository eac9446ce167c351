//! EMA(p): `k = 2/(p+1)`, seeded with the mean of the first `p` closes of the window.

use super::{alpha, sum};

/// Null with fewer than `p` values.
pub fn sql(a: &str, p: u32) -> String {
    format!(
        "IF(size({a}) >= {p}, aggregate(slice({a}, {p1}, greatest(size({a}) - {p}, 0)), \
         {seed} / {p}, (e, x) -> (x - e) * {k} + e), NULL)",
        p1 = p + 1,
        seed = sum(&format!("slice({a}, 1, {p})")),
        k = alpha(p),
    )
}
