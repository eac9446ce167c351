//! Bollinger bands(p, k): the SMA(p) of the closes ± k population standard deviations of the
//! same `p` closes, the deviation in two passes (the mean first, from the base pass).

use super::{dbl, last_n};

/// The outputs: upper band, middle (the SMA), lower band.
pub const OUTPUTS: [&str; 3] = ["upper", "middle", "lower"];

/// Output `output` given `mean`, the column of the SMA(p) of `a`.
pub fn output(a: &str, mean: &str, p: u32, k: f64, output: &str) -> String {
    let sd = format!(
        "sqrt(aggregate({tail}, 0D, (acc, x) -> acc + (x - {mean}) * (x - {mean})) / {p})",
        tail = last_n(a, p)
    );
    let k = dbl(k);
    match output {
        "upper" => format!("{mean} + {k} * {sd}"),
        "middle" => mean.to_string(),
        "lower" => format!("{mean} - {k} * {sd}"),
        other => unreachable!("bbands has no output {other}"),
    }
}
