//! MOM(p): the close minus the close `p` bars before.

/// Null with fewer than `p + 1` values.
pub fn sql(a: &str, p: u32) -> String {
    format!(
        "IF(size({a}) > {p}, element_at({a}, -1) - element_at({a}, -{}), NULL)",
        p + 1
    )
}
