//! The trading simulation over a backtest's bars, as one Spark SQL query: window functions
//! per symbol over the bars in time order, aggregates per symbol and over the portfolio. Only
//! the metrics (one row per symbol and one for the whole) come back to the client.
//!
//! The report's per-bar equity against buy-and-hold comes from the same steps ([`curve_sql`]).
//!
//! Definitions (`cost` = (fee_bps + slippage_bps) / 10,000):
//! - Position after bar t, `pos_t`: the last BUY or SELL at or before t sets it: BUY → 1,
//!   SELL → 0 (long/flat) or −1 (long/short); 0 before the first. It changes at the bar's
//!   close: a signal fills at the close of its own bar, slippage and fee included in `cost`.
//! - Return of bar t: `r_t = (1 + pos_{t−1}·(close_t/close_{t−1} − 1))·(1 − |pos_t − pos_{t−1}|·cost) − 1`,
//!   with `pos_{−1} = 0`: the position held through the bar earns the close-to-close change,
//!   and a change of position by Δ (in units of equity) costs |Δ|·cost of equity (a fee and
//!   slippage per side: entering, leaving, twice for a flip long ↔ short). Bars are the
//!   strategy's bars of that symbol in time order (an interval without trades has none).
//! - Equity: `capital / symbols · Π(1 + r)`; each symbol trades its own equal share.
//! - Total return: final equity / initial − 1. Buy-and-hold: last close / first close − 1,
//!   no costs (overall: the mean over symbols, i.e. equal shares held).
//! - Max drawdown: the largest fall of equity from its running peak, as a fraction of the peak.
//! - Sharpe: mean(r) / sample stdev(r) · √(bars per year); Sortino: mean(r) / √(mean(min(r, 0)²))
//!   · √(bars per year); every bar's return counts (flat bars as 0); a year is 365 days of
//!   bars of the strategy's interval (crypto trades every day). Overall: the same over the
//!   portfolio's returns, on the union of every symbol's bar times (a symbol's equity carried
//!   forward where it has no bar).
//! - Trades: each entry into a non-zero position is one trade, closed at the close of the bar
//!   where the position changes next, or marked at the last bar's close when still open. Its
//!   return: `pos·(exit/entry − 1) − cost·sides` (sides: 2 when closed, 1 when open at the
//!   end). Win rate: share of trades with a return > 0; average win and average loss: mean
//!   return of those > 0 and of the others.
//! - Exposure: share of bars held in a position (`pos_{t−1} ≠ 0`).

use serde::Deserialize;

/// What the simulation trades with.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSettings {
    /// SELL opens a short position instead of only closing a long one.
    pub long_short: bool,
    /// Fee per side, in basis points of the traded notional.
    pub fee_bps: f64,
    /// Slippage per side, in basis points: fills at the close ± this.
    pub slippage_bps: f64,
    /// Starting capital, split equally among the symbols.
    pub capital: f64,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            long_short: false,
            fee_bps: 10.0,
            slippage_bps: 5.0,
            capital: 10_000.0,
        }
    }
}

/// The metrics of one symbol, or of the whole portfolio (`symbol` = `*`).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct Metrics {
    pub symbol: String,
    pub bars: u64,
    pub first_bar: Option<String>,
    pub last_bar: Option<String>,
    pub final_equity: Option<f64>,
    pub total_return: Option<f64>,
    pub buy_hold_return: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub trades: u64,
    pub win_rate: Option<f64>,
    pub avg_win: Option<f64>,
    pub avg_loss: Option<f64>,
    pub exposure: Option<f64>,
}

/// The symbol of the portfolio's row.
pub const OVERALL: &str = "*";

/// A double as a Spark SQL literal, exactly (Rust prints the shortest text that reads back).
fn lit(x: f64) -> String {
    format!("{x:e}D")
}

/// Window of one symbol's bars in time order, and its frames.
const W: &str = "PARTITION BY symbol ORDER BY bar_end";
const UPTO: &str = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW";

/// The per-bar steps both queries share, as common table expressions over `bars`: `n` (the
/// number of symbols), `b` (position), `p` (previous position), `r` (return), `e` (equity).
fn per_bar(bars: &str, sim: &SimSettings) -> String {
    let cost = lit((sim.fee_bps + sim.slippage_bps) / 10_000.0);
    let sell = if sim.long_short { "-1D" } else { "0D" };
    let capital = lit(sim.capital);
    let (w, upto) = (W, UPTO);
    let all = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING";
    format!(
        "n AS (SELECT count(DISTINCT symbol) AS symbols FROM {bars}),
b AS (
  SELECT symbol, bar_end, close,
    coalesce(last(CASE action WHEN 'BUY' THEN 1.0D WHEN 'SELL' THEN {sell} END, true)
      OVER ({w} {upto}), 0D) AS pos,
    lag(close) OVER ({w}) AS prev_close,
    last(close) OVER ({w} {all}) AS last_close
  FROM {bars}),
p AS (SELECT *, coalesce(lag(pos) OVER ({w}), 0D) AS prev_pos FROM b),
r AS (
  SELECT *, (1D + prev_pos * coalesce(close / prev_close - 1D, 0D))
    * (1D - abs(pos - prev_pos) * {cost}) - 1D AS r
  FROM p),
e AS (
  SELECT r.*, {capital} / n.symbols * exp(sum(ln(1D + r)) OVER ({w} {upto})) AS equity
  FROM r CROSS JOIN n)"
    )
}

/// The per-bar series the report draws, as SQL over `bars` (the view of [`sql`], with the
/// signal JSON in `value` too): one row per bar, by symbol and time, with the signal JSON
/// (`value`), the strategy's equity after the bar (`equity`) and that of holding the
/// symbol's share from its first close, without costs (`buy_hold`).
pub fn curve_sql(bars: &str, sim: &SimSettings) -> String {
    let capital = lit(sim.capital);
    format!(
        "WITH {per_bar}
SELECT v.value, e.equity,
  {capital} / n.symbols * e.close / first_value(e.close) OVER (PARTITION BY e.symbol
    ORDER BY e.bar_end {UPTO}) AS buy_hold
FROM e JOIN {bars} v ON v.symbol = e.symbol AND v.bar_end = e.bar_end CROSS JOIN n
ORDER BY v.symbol, v.bar_end",
        per_bar = per_bar(bars, sim),
    )
}

/// The simulation as SQL over `bars` (a view with `symbol`, `bar_end` TIMESTAMP, `close`
/// DOUBLE, `action` STRING), for bars of `bar_s` seconds: one row per symbol and one for the
/// portfolio, each a JSON object of [`Metrics`] in column `metrics`.
pub fn sql(bars: &str, bar_s: u64, sim: &SimSettings) -> String {
    let cost = lit((sim.fee_bps + sim.slippage_bps) / 10_000.0);
    let per_year = lit(365.0 * 86_400.0 / bar_s.max(1) as f64);
    let capital = lit(sim.capital);
    let (w, upto) = (W, UPTO);
    let ratios = |r: &str| {
        format!(
            "avg({r}) / nullif(stddev_samp({r}), 0) * sqrt({per_year}) AS sharpe, \
             avg({r}) / nullif(sqrt(avg(power(least({r}, 0D), 2))), 0) * sqrt({per_year}) \
             AS sortino"
        )
    };
    format!(
        "WITH {per_bar},
d AS (SELECT *, 1D - equity / max(equity) OVER ({w} {upto}) AS drawdown FROM e),
legs AS (
  SELECT symbol, pos, close AS entry,
    lead(close) OVER ({w}) AS exit_close, last_close
  FROM p WHERE pos != prev_pos),
trades AS (
  SELECT symbol, pos * (coalesce(exit_close, last_close) / entry - 1D)
    - {cost} * IF(exit_close IS NULL, 1, 2) AS ret
  FROM legs WHERE pos != 0),
ts AS (
  SELECT symbol, count(*) AS trades, avg(IF(ret > 0, 1D, 0D)) AS win_rate,
    avg(IF(ret > 0, ret, NULL)) AS avg_win, avg(IF(ret > 0, NULL, ret)) AS avg_loss
  FROM trades GROUP BY symbol),
per AS (
  SELECT symbol, count(*) AS bars, min(bar_end) AS first_bar, max(bar_end) AS last_bar,
    max_by(equity, bar_end) AS final_equity,
    exp(sum(ln(1D + r))) - 1D AS total_return,
    max_by(close, bar_end) / min_by(close, bar_end) - 1D AS buy_hold_return,
    max(drawdown) AS max_drawdown, {ratios_r},
    avg(IF(prev_pos != 0, 1D, 0D)) AS exposure
  FROM d GROUP BY symbol),
grid AS (
  SELECT s.symbol, t.bar_end
  FROM (SELECT DISTINCT symbol FROM d) s CROSS JOIN (SELECT DISTINCT bar_end FROM d) t),
carried AS (
  SELECT g.bar_end, coalesce(last(d.equity, true) OVER (PARTITION BY g.symbol
    ORDER BY g.bar_end {upto}), {capital} / n.symbols) AS equity
  FROM grid g LEFT JOIN d ON g.symbol = d.symbol AND g.bar_end = d.bar_end CROSS JOIN n),
port AS (SELECT bar_end, sum(equity) AS equity FROM carried GROUP BY bar_end),
pr AS (
  SELECT bar_end, equity,
    equity / lag(equity, 1, {capital}) OVER (ORDER BY bar_end) - 1D AS r,
    1D - equity / max(equity) OVER (ORDER BY bar_end {upto}) AS drawdown
  FROM port),
overall AS (
  SELECT '{OVERALL}' AS symbol, a.*, t.*, p.*
  FROM (
    SELECT count(*) AS bars, min(bar_end) AS first_bar,
      max(bar_end) AS last_bar, max_by(equity, bar_end) AS final_equity,
      max_by(equity, bar_end) / {capital} - 1D AS total_return,
      max(drawdown) AS max_drawdown, {ratios_pr}
    FROM pr) a
  CROSS JOIN (
    SELECT count(*) AS trades, avg(IF(ret > 0, 1D, 0D)) AS win_rate,
      avg(IF(ret > 0, ret, NULL)) AS avg_win, avg(IF(ret > 0, NULL, ret)) AS avg_loss
    FROM trades) t
  CROSS JOIN (
    SELECT avg(buy_hold_return) AS buy_hold_return, avg(exposure) AS exposure FROM per) p)
SELECT to_json(named_struct('symbol', per.symbol, 'bars', per.bars,
    'first_bar', CAST(per.first_bar AS STRING), 'last_bar', CAST(per.last_bar AS STRING),
    'final_equity', final_equity, 'total_return', total_return,
    'buy_hold_return', buy_hold_return, 'max_drawdown', max_drawdown, 'sharpe', sharpe,
    'sortino', sortino, 'trades', coalesce(ts.trades, 0), 'win_rate', ts.win_rate,
    'avg_win', ts.avg_win, 'avg_loss', ts.avg_loss, 'exposure', exposure)) AS metrics
FROM per LEFT JOIN ts ON per.symbol = ts.symbol
UNION ALL
SELECT to_json(named_struct('symbol', symbol, 'bars', bars,
    'first_bar', CAST(first_bar AS STRING), 'last_bar', CAST(last_bar AS STRING),
    'final_equity', final_equity, 'total_return', total_return,
    'buy_hold_return', buy_hold_return, 'max_drawdown', max_drawdown, 'sharpe', sharpe,
    'sortino', sortino, 'trades', trades, 'win_rate', win_rate, 'avg_win', avg_win,
    'avg_loss', avg_loss, 'exposure', exposure)) AS metrics
FROM overall",
        per_bar = per_bar(bars, sim),
        ratios_r = ratios("r"),
        ratios_pr = ratios("r"),
    )
}

/// Per-symbol metrics sorted by symbol, then the portfolio's, from the JSON rows of [`sql`].
pub fn parse(rows: &[String]) -> Result<Vec<Metrics>, serde_json::Error> {
    let mut out: Vec<Metrics> = rows
        .iter()
        .map(|r| serde_json::from_str(r))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| (a.symbol == OVERALL, &a.symbol).cmp(&(b.symbol == OVERALL, &b.symbol)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_and_annualization_are_literals() {
        let q = sql("bars", 60, &SimSettings::default());
        assert!(q.contains("1.5e-3D"), "{q}");
        assert!(q.contains("5.256e5D"), "{q}");
        assert!(q.contains("WHEN 'SELL' THEN 0D"));
        let q = sql(
            "bars",
            3600,
            &SimSettings {
                long_short: true,
                ..SimSettings::default()
            },
        );
        assert!(q.contains("WHEN 'SELL' THEN -1D") && q.contains("8.76e3D"));
    }

    #[test]
    fn the_portfolio_row_comes_last() {
        let row = |s: &str| format!(r#"{{"symbol":"{s}","bars":3,"trades":1,"total_return":0.5}}"#);
        let m = parse(&[row("*"), row("ETH/USD"), row("BTC/USD")]).unwrap();
        let order: Vec<&str> = m.iter().map(|m| m.symbol.as_str()).collect();
        assert_eq!(order, ["BTC/USD", "ETH/USD", "*"]);
        assert_eq!(m[0].total_return, Some(0.5));
        assert_eq!(m[0].sharpe, None);
    }
}
