//! The backtest's outputs and inputs beyond the equivalence test: the HTML report in a real
//! headless Chromium (Debian's `chromium`), the signals on a Kafka topic, and the Parquet and
//! Kraken-CSV paths, each against the JSON-lines path on the same trades
//! ([`crate::exact::series`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use analytics::backtest::{self, BacktestSettings, FileFormat, Input, Report};
use analytics::text::metric_cells;
use analytics::Strategy;
use contract::{Action, Signal, Trade};
use spark_connect::row::Value as SparkValue;
use testkit::browser::{self, Browser};

use crate::backtest::{assert_same_signals, read_dir, strategy};
use crate::support;

/// A fresh directory for one test's files, on the filesystem the Connect server reads.
fn workdir(strategy: &Strategy) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("tradesignal-it")
        .join(format!("{}-files", strategy.name));
    std::fs::create_dir_all(&dir).expect("test directory");
    dir
}

/// The trades as our JSON lines.
fn write_json_lines(trades: &[Trade], path: &Path) {
    let text: String = trades.iter().map(|t| t.to_json() + "\n").collect();
    std::fs::write(path, text).expect("write the trades");
}

/// Runs a backtest on a thread with an 8 MiB stack, a main thread's: the Spark Connect client
/// turns the plan into protobuf recursively, and in a debug build a backtest's plan (a few
/// dozen levels) overflows a test thread's 2 MiB (measured: the Parquet input did, in
/// `local_checkpoint`, and the Kafka input since the batch's lookback frames).
pub(crate) fn run(strategy: &Strategy, settings: BacktestSettings) -> Report {
    let settings = BacktestSettings {
        session_id: support::connection().session_id,
        ..settings
    };
    let strategy = strategy.clone();
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            backtest::run(&support::spark(), &strategy, &settings, |l| {
                eprintln!("{l}")
            })
            .expect("backtest")
        })
        .expect("backtest thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn file(path: &Path, format: FileFormat) -> Input {
    Input::File {
        path: path.to_path_buf(),
        format,
    }
}

/// The BUY and SELL signals of `symbol`.
fn marks(signals: &[Signal], symbol: &str) -> usize {
    signals
        .iter()
        .filter(|s| s.symbol == symbol && matches!(s.action, Action::Buy | Action::Sell))
        .count()
}

#[test]
fn the_report_draws_every_symbol_in_a_browser_and_the_topic_gets_the_signals() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("report");
    let strategy = strategy(&trades_topic, &signals_topic);
    let dir = workdir(&strategy);
    let trades = crate::exact::series();
    let jsonl = dir.join("trades.jsonl");
    write_json_lines(&trades, &jsonl);
    // Two unusable lines and a trade stamped decades after its receipt: skipped, and counted.
    let mut ahead = support::trade(
        "TREND/USD",
        999_999,
        "2099-01-01T00:00:00Z".parse().unwrap(),
        1.0,
        1.0,
    );
    ahead.recv_ts = trades[0].recv_ts;
    let mut text = std::fs::read_to_string(&jsonl).unwrap();
    text.push_str("not a trade\n{\"symbol\":\"TREND/USD\",\"price\":-1}\n");
    text.push_str(&(ahead.to_json() + "\n"));
    std::fs::write(&jsonl, text).unwrap();
    let out = dir.join("signals.jsonl");
    let html = dir.join("report.html");
    let report = run(
        &strategy,
        BacktestSettings {
            input: file(&jsonl, FileFormat::JsonLines),
            out: Some(out.clone()),
            topic: Some(signals_topic.clone()),
            report: Some(html.clone()),
            ..BacktestSettings::default()
        },
    );
    let signals = read_dir(&out);
    assert_eq!(
        (report.records, report.bad_records, report.ahead_records),
        (trades.len() as u64 + 3, 2, 1)
    );
    assert_eq!(signals.len() as u64, report.signals);
    assert!(signals.len() > 20, "{} signals", signals.len());
    assert_eq!(report.html.as_deref(), Some(html.as_path()));
    let page = std::fs::read_to_string(&html).unwrap();
    let counts = format!("{} records read, 3 skipped", trades.len() + 3);
    assert!(
        page.contains(&counts),
        "the report's header lacks {counts:?}"
    );

    // The topic gets the file's signals, keyed by symbol.
    let want = signals.len();
    let on_topic =
        support::read_signals(&signals_topic, Duration::from_secs(60), move |n| n >= want);
    assert_same_signals("the file", &signals, "the topic", &on_topic);

    let symbols: Vec<&str> = report.metrics[..report.metrics.len() - 1]
        .iter()
        .map(|m| m.symbol.as_str())
        .collect();
    support::block(async {
        let url = format!("file://{}", html.display());
        let mut page = Browser::open(&url).await;
        page.wait_for(
            "window.report && window.report.charts.length > 0",
            Duration::from_secs(30),
        )
        .await
        .expect("the report's script ran");
        // Self-contained: nothing loaded from anywhere (no src, no stylesheet link, no
        // resource fetched).
        let loads = page
            .eval(
                "document.querySelectorAll('[src], link[href]').length + \
                 performance.getEntriesByType('resource').length",
            )
            .await;
        assert_eq!(loads, 0, "the report loads something");
        // One chart per symbol, each drawn (a canvas), with the symbol's BUY/SELL marks.
        let drawn = page
            .eval(
                "Array.from(document.querySelectorAll('section.symbol')).map((s, i) => \
                 [s.dataset.symbol, s.querySelectorAll('.chart canvas').length > 0, \
                 window.report.charts[i].markerCount(), window.report.charts[i].panes()])",
            )
            .await;
        let drawn = drawn.as_array().expect("sections");
        assert_eq!(drawn.len(), symbols.len(), "{drawn:?}");
        for (section, symbol) in drawn.iter().zip(&symbols) {
            assert_eq!(section[0], *symbol);
            assert_eq!(section[1], true, "{symbol}: no canvas");
            assert_eq!(
                section[2],
                marks(&signals, symbol),
                "{symbol}: BUY/SELL marks"
            );
            let panes = section[3].as_array().unwrap();
            assert_eq!(
                panes.last().unwrap(),
                &serde_json::json!(["equity", "buy & hold"]),
                "{symbol}: panes {panes:?}"
            );
        }
        // The metrics table shows the simulation's numbers, as the terminal does.
        let table = page
            .eval(
                "Array.from(document.querySelectorAll('body > table.metrics tbody tr'))\
                 .map(r => Array.from(r.cells).map(c => c.textContent))",
            )
            .await;
        let want: Vec<Vec<String>> = report.metrics.iter().map(metric_cells).collect();
        assert_eq!(table, serde_json::json!(want));
        // Each equity curve ends at the simulation's final equity; buy-and-hold at the
        // symbol's share times its buy-and-hold return.
        let ends = page
            .eval(
                "window.report.data.symbols.map(s => [s.symbol, s.equity.length, \
                 s.equity[s.equity.length - 1].equity, s.equity[s.equity.length - 1].buy_hold])",
            )
            .await;
        let share = backtest::SimSettings::default().capital / symbols.len() as f64;
        for (end, m) in ends.as_array().unwrap().iter().zip(&report.metrics) {
            assert_eq!(end[0], m.symbol.as_str());
            assert_eq!(end[1], m.bars, "{}: one point per bar", m.symbol);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
            let (equity, buy_hold) = (end[2].as_f64().unwrap(), end[3].as_f64().unwrap());
            assert!(close(equity, m.final_equity.unwrap()), "{end:?} {m:?}");
            assert!(
                close(buy_hold, share * (1.0 + m.buy_hold_return.unwrap())),
                "{end:?} {m:?}"
            );
        }
        // The screenshot shows the chart of the symbol with the most marks.
        let busiest = symbols
            .iter()
            .enumerate()
            .max_by_key(|(_, s)| marks(&signals, s))
            .map_or(0, |(i, _)| i);
        page.eval(&format!(
            "document.getElementById('symbol-{busiest}').querySelector('h2').scrollIntoView(); \
             new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        ))
        .await;
        page.screenshot(&browser::target_path("backtest-report.png"))
            .await;
        assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    });
}

/// The signals of a Parquet output, read back through Spark as the signal JSON.
fn read_parquet(path: &Path) -> Vec<Signal> {
    support::spark()
        .read()
        .format("parquet")
        .load(Some(&path.to_string_lossy()))
        .select_expr(vec![
            "to_json(struct(*), map('timestampFormat', 'yyyy-MM-dd\\'T\\'HH:mm:ss.SSSSSSXXX'))",
        ])
        .collect()
        .expect("read the Parquet signals")
        .iter()
        .map(|r| match r.get(0) {
            Some(SparkValue::String(json)) => serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("not a contract::Signal ({e}): {json}")),
            other => panic!("not a JSON row: {other:?}"),
        })
        .collect()
}

/// Kraken's trade-history CSV of `symbol`'s trades: `unix_time,price,volume` in trade order
/// (time, then id: the order the CSV's deterministic ids keep for trades of one time).
fn write_kraken_csv(trades: &[Trade], symbol: &str, path: &Path) {
    let mut mine: Vec<&Trade> = trades.iter().filter(|t| t.symbol == symbol).collect();
    mine.sort_by_key(|t| (t.ts, t.trade_id));
    let text: String = mine
        .iter()
        .map(|t| {
            format!(
                "{}.{:06},{},{}\n",
                t.ts.timestamp(),
                t.ts.timestamp_subsec_micros(),
                t.price,
                t.qty
            )
        })
        .collect();
    std::fs::write(path, text).expect("write the CSV");
}

#[test]
fn parquet_and_kraken_csv_inputs_and_parquet_output_give_the_json_lines_signals() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("report-formats");
    let strategy = strategy(&trades_topic, &signals_topic);
    let dir = workdir(&strategy);
    let trades = crate::exact::series();
    let want = analytics::reference::signals(&trades, &strategy);
    let jsonl = dir.join("trades.jsonl");
    write_json_lines(&trades, &jsonl);

    // JSON lines in, Parquet out.
    let parquet_out = dir.join("signals.parquet");
    run(
        &strategy,
        BacktestSettings {
            input: file(&jsonl, FileFormat::JsonLines),
            out: Some(parquet_out.clone()),
            ..BacktestSettings::default()
        },
    );
    let from_json = read_parquet(&parquet_out);
    assert_eq!(from_json.len(), want.len(), "the reference's signal count");

    // A backtest of `input` written as JSON lines to `name`, and its signals.
    let signals_from = |input: Input, name: &str| {
        let out = dir.join(name);
        run(
            &strategy,
            BacktestSettings {
                input,
                out: Some(out.clone()),
                ..BacktestSettings::default()
            },
        );
        read_dir(&out)
    };

    // Parquet in, JSON lines out.
    let parquet_in = dir.join("trades.parquet");
    analytics::backtest::input::jsonl_as_parquet(&support::spark(), &jsonl, &parquet_in)
        .expect("write the Parquet trades");
    assert_same_signals(
        "JSON lines in, Parquet out",
        &from_json,
        "Parquet in, JSON lines out",
        &signals_from(file(&parquet_in, FileFormat::Parquet), "from-parquet.jsonl"),
    );

    // Parquet from elsewhere, without the receipt time: read all the same.
    let bare = dir.join("trades-bare.parquet");
    support::spark()
        .read()
        .format("parquet")
        .load(Some(&parquet_in.to_string_lossy()))
        .select_expr(vec!["symbol", "trade_id", "price", "qty", "ts"])
        .write()
        .format("parquet")
        .mode("overwrite")
        .save(Some(&bare.to_string_lossy()))
        .expect("write the Parquet trades without recv_ts");
    assert_same_signals(
        "JSON lines in, Parquet out",
        &from_json,
        "Parquet without recv_ts in",
        &signals_from(file(&bare, FileFormat::Parquet), "from-bare-parquet.jsonl"),
    );

    // Kraken's CSV of one symbol (ids of its own: the signals do not depend on them).
    let symbol = "TREND/USD";
    let csv = dir.join("TRENDUSD.csv");
    write_kraken_csv(&trades, symbol, &csv);
    let from_csv = signals_from(
        file(
            &csv,
            FileFormat::KrakenCsv {
                symbol: symbol.into(),
            },
        ),
        "from-csv.jsonl",
    );
    let of_symbol: Vec<Signal> = from_json
        .iter()
        .filter(|s| s.symbol == symbol)
        .cloned()
        .collect();
    assert!(
        of_symbol.len() > 5,
        "{} signals of {symbol}",
        of_symbol.len()
    );
    assert_same_signals("JSON lines", &of_symbol, "Kraken CSV", &from_csv);
}

/// Symbols and reasons holding markup, in a real browser: the page draws them as text and
/// nothing they hold runs. Needs no stack: the report is rendered from made-up bars.
#[test]
fn markup_in_symbols_and_reasons_stays_text_in_a_browser() {
    use analytics::backtest::html::{self, CurvePoint, Header};
    let evil = "</script><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";
    let t0: chrono::DateTime<chrono::Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
    let points: Vec<CurvePoint> = (0..30)
        .map(|i| {
            let start = t0 + chrono::Duration::minutes(i);
            let close = 100.0 + (i as f64 / 3.0).sin() * 5.0;
            let (action, reasons) = match i % 10 {
                3 => (Action::Buy, vec![evil.to_string()]),
                8 => (Action::Sell, vec!["rsi_overbought".to_string()]),
                _ => (Action::Hold, vec![]),
            };
            CurvePoint {
                signal: Signal {
                    id: format!("s|{evil}|{i}"),
                    strategy: "s".into(),
                    symbol: evil.into(),
                    bar_start: start,
                    bar_end: start + chrono::Duration::minutes(1),
                    open: close - 1.0,
                    high: close + 2.0,
                    low: close - 2.0,
                    close,
                    volume: 1.0,
                    trades: 3,
                    bars: i as u32 + 1,
                    indicators: [("sma_fast", Some(close - 0.5)), ("rsi", Some(50.0))]
                        .into_iter()
                        .collect(),
                    action,
                    reasons,
                },
                equity: 10_000.0 + i as f64,
                buy_hold: 10_000.0 * close / 100.0,
            }
        })
        .collect();
    let metrics: Vec<backtest::Metrics> = [evil, "*"]
        .iter()
        .map(|s| {
            serde_json::from_value(serde_json::json!({"symbol": s, "bars": 30, "trades": 3}))
                .unwrap()
        })
        .collect();
    let page = html::render(
        &Header {
            strategy: evil,
            records: 90,
            skipped: 0,
            bars: 30,
            signals: 6,
            sim: &backtest::SimSettings::default(),
        },
        &metrics,
        &points,
    );
    let dir = std::env::temp_dir().join("tradesignal-it");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "report-markup-{}.html",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, page).unwrap();
    support::block(async {
        let mut page = Browser::open(&format!("file://{}", path.display())).await;
        page.wait_for("window.report", Duration::from_secs(30))
            .await
            .expect("the report's script ran");
        let seen = page
            .eval(
                "[window.pwned === undefined, document.querySelector('section.symbol h2').textContent, \
                 document.querySelector('table.signals tbody tr td:last-child').textContent, \
                 window.report.charts[0].markerCount(), document.querySelectorAll('img').length]",
            )
            .await;
        assert_eq!(seen, serde_json::json!([true, evil, evil, 6, 0]));
        assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    });
    let _ = std::fs::remove_file(&path);
}
