//! The browser side of the project, embedded: one copy of each file for every binary that
//! serves it (`sink dashboard`) or inlines it into a self-contained page (`analytics backtest
//! --report`).
//!
//! TradingView's lightweight-charts comes from npm, installed by this crate's build script
//! with `npm ci` of `package-lock.json` (see `build.rs`); nothing is fetched at run time.

/// lightweight-charts' standalone build: defines the global `LightweightCharts`.
pub const LIGHTWEIGHT_CHARTS_JS: &str = include_str!(env!("LIGHTWEIGHT_CHARTS_JS"));

/// `TsChart`, the one chart component (candles, indicators, BUY/SELL marks, an equity pane);
/// a plain script that needs [`LIGHTWEIGHT_CHARTS_JS`] loaded first.
pub const CHART_JS: &str = include_str!("chart.js");

/// The backtest report's page script: draws the data the report inlines with [`CHART_JS`].
pub const REPORT_JS: &str = include_str!("report.js");

/// The live dashboard's page and its script.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");
pub const DASHBOARD_JS: &str = include_str!("dashboard.js");

#[cfg(test)]
mod tests {
    use super::*;

    /// A page inlines these in `<script>` elements: text that closes the element would end
    /// the script early.
    #[test]
    fn the_scripts_can_be_inlined() {
        for (name, js) in [
            ("lightweight-charts", LIGHTWEIGHT_CHARTS_JS),
            ("chart.js", CHART_JS),
            ("report.js", REPORT_JS),
        ] {
            let lower = js.to_ascii_lowercase();
            assert!(!lower.contains("</script"), "{name} holds </script");
            assert!(!lower.contains("<!--"), "{name} holds <!--");
        }
        assert!(LIGHTWEIGHT_CHARTS_JS.contains("LightweightCharts"));
        assert!(CHART_JS.contains("global.TsChart"));
    }
}
