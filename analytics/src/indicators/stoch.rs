//! STOCH(fastk, slowk, slowd), both smoothings simple moving averages (TA-Lib's default):
//! fast %K of a bar is where its close sits between the lowest low and the highest high of
//! its last `fastk` bars (0 when their range is within TA-Lib 0.8's relative epsilon, 1e-14 ×
//! the two, of zero), %K the mean of the last `slowk` fast %K, %D the mean of the last `slowd`
//! %K. (TA-Lib keeps running sums for the means; direct sums differ by float rounding only.)

use super::{bind, EPSILON};

/// The outputs: slow %K and %D.
pub const OUTPUTS: [&str; 2] = ["k", "d"];

/// A struct of [`OUTPUTS`]; null with fewer than `fastk + slowk + slowd - 2` bars.
pub fn sql(bars: &str, fastk: u32, slowk: u32, slowd: u32) -> String {
    let need = fastk + slowk + slowd - 2;
    // Fast %K of the bar at (1-based) position i, in TA-Lib's order of operations.
    let range = "named_struct('hh', array_max(transform(r, b -> b.high)), \
         'll', array_min(transform(r, b -> b.low)), 'c', element_at(r, -1).close)";
    let fast_k = bind(
        &format!("slice({bars}, i - {}, {fastk})", fastk - 1),
        "r",
        &bind(
            range,
            "q",
            &format!(
                "IF(abs(q.hh - q.ll) <= {EPSILON} * (abs(q.hh) + abs(q.ll)), 0D, \
                 (q.c - q.ll) / (q.hh - q.ll) * 100D)"
            ),
        ),
    );
    let mean = |arr: &str, from: &str, n: u32| {
        format!("aggregate(slice({arr}, {from}, {n}), 0D, (acc, x) -> acc + x) / {n}")
    };
    // Fast %K of the last slowk + slowd - 1 bars, %K of the last slowd, then %D.
    let fast_ks = format!(
        "transform(sequence(size({bars}) - {}, size({bars})), i -> {fast_k})",
        slowk + slowd - 2
    );
    let slow_ks = format!(
        "transform(sequence(1, {slowd}), j -> {})",
        mean("f", "j", slowk)
    );
    let out = format!(
        "named_struct('k', element_at(k, -1), 'd', {})",
        mean("k", "1", slowd)
    );
    format!(
        "IF(size({bars}) >= {need}, {}, NULL)",
        bind(&fast_ks, "f", &bind(&slow_ks, "k", &out))
    )
}
