//! SMA(p): the mean of the last `p` closes.

use super::{last_n, sum};

/// Null with fewer than `p` values.
pub fn sql(a: &str, p: u32) -> String {
    format!("IF(size({a}) >= {p}, {} / {p}, NULL)", sum(&last_n(a, p)))
}
