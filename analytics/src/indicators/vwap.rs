//! VWAP (ours; TA-Lib has none): the volume-weighted mean close of the last `period` bars of the
//! window, `Σ close·volume / Σ volume`, or of the whole window without a period. Flat bars of
//! empty intervals weigh nothing (volume 0).

use super::last_n;

/// Null with fewer than `period` bars, or when the bars traded nothing.
pub fn sql(bars: &str, period: Option<u32>) -> String {
    let (bars_used, enough) = match period {
        Some(p) => (last_n(bars, p), format!("size({bars}) >= {p}")),
        None => (bars.to_string(), "true".to_string()),
    };
    format!(
        "IF({enough}, aggregate({bars_used}, named_struct('pv', 0D, 'v', 0D), \
         (s, b) -> named_struct('pv', s.pv + b.close * b.volume, 'v', s.v + b.volume), \
         s -> IF(s.v = 0D, NULL, s.pv / s.v)), NULL)"
    )
}
