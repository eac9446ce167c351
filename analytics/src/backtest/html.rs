//! The backtest's report: one self-contained HTML file a person opens offline, with a section
//! per symbol (candles, the strategy's indicators, BUY/SELL marks with their reasons, the
//! equity curve against buy-and-hold, the metrics and the signals) and the metrics table of
//! every symbol and the portfolio at the top.
//!
//! Everything is inlined: TradingView's lightweight-charts and the project's chart component
//! (the `web` crate, the same `chart.js` the live dashboard draws with), the page script, and
//! the data as JSON. Text put into markup is escaped ([`escape`]); the JSON sits in a
//! `<script type="application/json">` element with `<`, `>` and `&` written as `\u003c` etc.
//! ([`script_json`]), so no symbol or reason can close the element or start markup.

use std::collections::BTreeMap;

use contract::Signal;
use serde_json::{json, Value};

use super::simulate::{Metrics, SimSettings, OVERALL};
use crate::text::{metric_cells, METRIC_HEADER};

/// One bar as the report gets it from Spark: the signal, the strategy's equity after the
/// bar, and the equity of holding the symbol's share from its first close.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub signal: Signal,
    pub equity: f64,
    pub buy_hold: f64,
}

/// What the report says besides the bars and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Header<'a> {
    pub strategy: &'a str,
    /// Input records read, and those skipped (unusable, or stamped too far ahead).
    pub records: u64,
    pub skipped: u64,
    pub bars: u64,
    pub signals: u64,
    pub sim: &'a SimSettings,
}

/// `text` safe as HTML text or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `value` as JSON that can sit inside a `<script>` element: the characters that could end
/// it or start markup (`<`, `>`, `&`) and the line separators JavaScript once treated as line
/// ends are written as `\uXXXX` escapes, which only occur inside JSON strings and read back
/// as the same text.
pub fn script_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The data the page script draws: per symbol (in `points`' symbol order), its bars and its
/// equity series, times in seconds since the epoch of the bar's start.
fn data(points: &[CurvePoint]) -> (Vec<String>, Value) {
    let mut by_symbol: BTreeMap<&str, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for p in points {
        let s = &p.signal;
        let time = s.bar_start.timestamp();
        let (bars, equity) = by_symbol.entry(s.symbol.as_str()).or_default();
        bars.push(json!({
            "time": time,
            "open": s.open,
            "high": s.high,
            "low": s.low,
            "close": s.close,
            "volume": s.volume,
            "indicators": s.indicators,
            "action": s.action,
            "reasons": s.reasons,
            "symbol": s.symbol,
        }));
        equity.push(json!({"time": time, "equity": p.equity, "buy_hold": p.buy_hold}));
    }
    let symbols: Vec<String> = by_symbol.keys().map(|s| s.to_string()).collect();
    let sections: Vec<Value> = by_symbol
        .into_iter()
        .map(|(symbol, (bars, equity))| json!({"symbol": symbol, "bars": bars, "equity": equity}))
        .collect();
    (symbols, json!({ "symbols": sections }))
}

/// A metrics table of `rows`, each row marked with its symbol (`data-symbol`).
fn metrics_table(rows: &[&Metrics]) -> String {
    let mut out = String::from("<table class=\"metrics\"><thead><tr>");
    for h in METRIC_HEADER {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for m in rows {
        out.push_str(&format!("<tr data-symbol=\"{}\">", escape(&m.symbol)));
        for c in metric_cells(m) {
            out.push_str(&format!("<td>{}</td>", escape(&c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:16px 24px;color:#222}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}\
.meta{color:#555;margin:0 0 10px}nav a{margin-right:12px}\
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;\
text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}\
th{background:#f5f5f5;font-weight:600}table.signals td:last-child{text-align:left;white-space:normal}\
tr.buy td:nth-child(2){color:#26a69a}tr.sell td:nth-child(2){color:#ef5350}\
.chart{height:720px;margin:8px 0;border:1px solid #ddd}\
.legend{color:#555;font-size:12px}.equity{color:#1e88e5}.bh{color:#9e9e9e}";

/// The report's HTML: `points` are every bar of every symbol (from [`super::simulate::curve_sql`]),
/// `metrics` the simulation's rows (the portfolio's last).
pub fn render(header: &Header, metrics: &[Metrics], points: &[CurvePoint]) -> String {
    let (symbols, data) = data(points);
    let sim = header.sim;
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Backtest: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Backtest: {name}</h1>\n<p class=\"meta\">{records} records read, {skipped} \
         skipped; {bars} bars, {signals} with a signal; \
         {mode}, fee {fee} bps and slippage {slip} bps per side, capital {capital} split \
         equally among the symbols. Drag to pan, scroll to zoom; hover a bar for its values \
         and a mark for its reasons.</p>\n",
        name = escape(header.strategy),
        records = header.records,
        skipped = header.skipped,
        bars = header.bars,
        signals = header.signals,
        mode = if sim.long_short {
            "long/short"
        } else {
            "long/flat"
        },
        fee = sim.fee_bps,
        slip = sim.slippage_bps,
        capital = sim.capital,
    );
    html.push_str("<nav>");
    for (i, s) in symbols.iter().enumerate() {
        html.push_str(&format!("<a href=\"#symbol-{i}\">{}</a>", escape(s)));
    }
    html.push_str("</nav>\n<h2>Metrics</h2>\n");
    html.push_str(&metrics_table(&metrics.iter().collect::<Vec<_>>()));
    html.push_str(&format!(
        "\n<p class=\"meta\">{OVERALL}: the portfolio. Every metric is defined in \
         analytics/src/backtest/simulate.rs.</p>\n"
    ));
    for (i, s) in symbols.iter().enumerate() {
        let rows: Vec<&Metrics> = metrics.iter().filter(|m| &m.symbol == s).collect();
        html.push_str(&format!(
            "<section class=\"symbol\" id=\"symbol-{i}\" data-symbol=\"{sym}\">\n<h2>{sym}</h2>\n{table}\n\
             <div class=\"legend\">Lowest pane: <span class=\"equity\">equity</span> against \
             <span class=\"bh\">buy &amp; hold</span> of the symbol's share of the capital.</div>\n\
             <div class=\"chart\" id=\"chart-{i}\"></div>\n<details><summary>Signals</summary>\
             <table class=\"signals\"><thead><tr><th>bar start</th><th>action</th><th>close</th>\
             <th>reasons</th></tr></thead><tbody></tbody></table></details>\n</section>\n",
            sym = escape(s),
            table = metrics_table(&rows),
        ));
    }
    for script in [web::LIGHTWEIGHT_CHARTS_JS, web::CHART_JS] {
        html.push_str(&format!("<script>{script}</script>\n"));
    }
    html.push_str(&format!(
        "<script type=\"application/json\" id=\"report-data\">{}</script>\n<script>{}</script>\n\
         </body>\n</html>\n",
        script_json(&data),
        web::REPORT_JS,
    ));
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::{Action, Indicators};

    fn point(symbol: &str, minute: i64, action: Action, reasons: &[&str]) -> CurvePoint {
        let start = "2026-01-05T00:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            + chrono::Duration::minutes(minute);
        CurvePoint {
            signal: Signal {
                id: format!("s|{symbol}|{minute}"),
                strategy: "s".into(),
                symbol: symbol.into(),
                bar_start: start,
                bar_end: start + chrono::Duration::minutes(1),
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: 1.5,
                volume: 3.0,
                trades: 2,
                bars: 1,
                indicators: [("sma_fast", Some(1.25))]
                    .into_iter()
                    .collect::<Indicators>(),
                action,
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            },
            equity: 100.0,
            buy_hold: 101.0,
        }
    }

    fn metrics(symbol: &str) -> Metrics {
        serde_json::from_value(json!({"symbol": symbol, "bars": 2, "trades": 1,
            "total_return": 0.0123, "sharpe": 1.5}))
        .unwrap()
    }

    #[test]
    fn nothing_in_the_data_can_close_a_script_or_add_markup() {
        let evil = "</script><script>alert(1)</script><!--";
        let points = [
            point(evil, 0, Action::Buy, &[evil, "a & b"]),
            point(evil, 1, Action::Hold, &[]),
            point("BTC/USD", 0, Action::Sell, &["rsi_overbought"]),
        ];
        let html = render(
            &Header {
                strategy: "<b>s</b>",
                records: 4,
                skipped: 1,
                bars: 3,
                signals: 2,
                sim: &SimSettings::default(),
            },
            &[metrics(evil), metrics("BTC/USD"), metrics(OVERALL)],
            &points,
        );
        // The only script elements are the page's own four.
        assert_eq!(html.matches("<script").count(), 4, "{}", &html[..2000]);
        assert_eq!(html.matches("</script").count(), 4);
        assert!(!html.contains("<b>s</b>") && !html.contains("<!--"));
        assert!(
            html.contains("<h2>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!--</h2>")
        );
        // The data reads back as the same text.
        let start = html.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: Value = serde_json::from_str(&html[start..end]).unwrap();
        let sections = data["symbols"].as_array().unwrap();
        assert_eq!(sections.len(), 2);
        // By symbol: `<` sorts before `B`.
        assert_eq!(sections[0]["symbol"], evil);
        assert_eq!(sections[0]["bars"][0]["reasons"], json!([evil, "a & b"]));
        assert_eq!(sections[0]["bars"][0]["indicators"]["sma_fast"], 1.25);
        assert_eq!(sections[0]["bars"][1]["time"], 1_767_571_260);
        assert_eq!(sections[0]["equity"][0]["buy_hold"], 101.0);
        assert_eq!(sections[1]["bars"][0]["action"], "SELL");
        // One section and one chart per symbol; the metrics as the terminal shows them.
        assert_eq!(html.matches("<section class=\"symbol\"").count(), 2);
        assert_eq!(html.matches("class=\"chart\"").count(), 2);
        assert!(html.contains("<td>1.23%</td>") && html.contains("<td>1.50</td>"));
    }
}
