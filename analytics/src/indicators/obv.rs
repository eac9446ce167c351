//! OBV over the window: the first bar's volume, then each bar's volume added when its close
//! rose, subtracted when it fell. Like every recursive kind, it starts at the window's first
//! bar (TA-Lib called on the window).

use super::consecutive;

/// Null only for an empty window (the window before a first bar).
pub fn sql(bars: &str) -> String {
    format!(
        "aggregate({pairs}, try_element_at({bars}, 1).volume, (o, x) -> CASE \
         WHEN x.b.close > x.p.close THEN o + x.b.volume \
         WHEN x.b.close < x.p.close THEN o - x.b.volume ELSE o END)",
        pairs = consecutive(bars)
    )
}
