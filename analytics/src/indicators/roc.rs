//! ROC(p): `(close / close p bars before - 1) × 100`, 0 when that close is 0.

/// Null with fewer than `p + 1` values.
pub fn sql(a: &str, p: u32) -> String {
    let old = format!("element_at({a}, -{})", p + 1);
    format!(
        "IF(size({a}) > {p}, IF({old} != 0D, (element_at({a}, -1) / {old} - 1D) * 100D, 0D), \
         NULL)"
    )
}
