//! Wilder's RSI(p): one fold over the changes of the closes: sums for the first `p`, their
//! means at the `p`-th, smoothing after; 0 when nothing moved.

/// Null with fewer than `p + 1` values.
pub fn sql(a: &str, p: u32) -> String {
    let len = format!("greatest(size({a}) - 1, 0)");
    let changes = format!("zip_with(slice({a}, 2, {len}), slice({a}, 1, {len}), (x, y) -> x - y)");
    let avg = |part: &str, sign: &str| {
        format!(
            "CASE WHEN s.n < {pm1} THEN s.{part} + greatest({sign}x, 0D) \
             WHEN s.n = {pm1} THEN (s.{part} + greatest({sign}x, 0D)) / {p} \
             ELSE (s.{part} * {pm1} + greatest({sign}x, 0D)) / {p} END",
            pm1 = p - 1,
        )
    };
    format!(
        "aggregate({changes}, named_struct('n', 0, 'g', 0D, 'l', 0D), \
         (s, x) -> named_struct('n', s.n + 1, 'g', {g}, 'l', {l}), \
         s -> IF(s.n >= {p}, IF(s.g + s.l = 0D, 0D, 100D * (s.g / (s.g + s.l))), NULL))",
        g = avg("g", ""),
        l = avg("l", "-"),
    )
}
