//! What the dashboard knows and what it tells browsers: the last N bars of every chart (one
//! per strategy and symbol), the recent BUY/SELL signals, the latest health report, and the
//! numbered stream of changes to them.
//!
//! Every change gets the next sequence number and goes to every connected browser through one
//! bounded broadcast channel. A browser connects by taking a snapshot and subscribing under
//! the same lock that publishing holds, so it sees each change exactly once: either in the
//! snapshot or as the event numbered right after it. A browser that falls a whole channel
//! behind is dropped (its stream ends) rather than silently skipped ahead; it reconnects and
//! starts again from a fresh snapshot. Memory is bounded whatever the topic holds:
//! `history_bars` per chart, `recent_signals` signals, `client_queue` events in the channel.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use contract::{Action, Signal};
use serde::Serialize;
use tokio::sync::broadcast;

/// One numbered change, serialized once and shared by every browser.
#[derive(Debug)]
pub struct Event {
    /// 1, 2, 3, ... over the dashboard's lifetime; each browser checks it sees no gap.
    pub seq: u64,
    /// The SSE event name: `bar` or `health` (a snapshot is never broadcast).
    pub name: &'static str,
    /// The JSON payload, `seq` included.
    pub data: String,
}

/// The bars of one strategy on one symbol, oldest first, each kept as the JSON sent.
#[derive(Debug, Default)]
struct Chart {
    /// (bar_start in ms, the bar's JSON), sorted by time, at most `history_bars`.
    bars: VecDeque<(i64, Arc<str>)>,
}

/// The bar as browsers get it: the signal itself, plus the key of its chart.
#[derive(Serialize)]
struct BarOut<'a> {
    chart: String,
    #[serde(flatten)]
    signal: &'a Signal,
}

/// Limits of the book.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub history_bars: usize,
    pub recent_signals: usize,
    pub client_queue: usize,
}

struct Inner {
    seq: u64,
    charts: BTreeMap<String, Chart>,
    /// Every strategy seen (the Spark queries to watch are named after them).
    strategies: BTreeSet<String>,
    /// The latest BUY/SELL signals of every chart, oldest first (JSON as sent).
    signals: VecDeque<Arc<str>>,
    /// The latest health report (JSON), `null` before the first.
    health: String,
    sender: broadcast::Sender<Arc<Event>>,
}

/// The dashboard's state; cheap to clone (shared).
#[derive(Clone)]
pub struct Book {
    inner: Arc<Mutex<Inner>>,
    limits: Limits,
}

/// What a newly connected browser gets: the snapshot event and the changes after it.
pub struct Subscription {
    pub snapshot: Event,
    pub events: broadcast::Receiver<Arc<Event>>,
}

/// `BTC/USD` for the strategy `demo`: `demo · BTC/USD`.
pub fn chart_key(signal: &Signal) -> String {
    format!("{} · {}", signal.strategy, signal.symbol)
}

impl Book {
    pub fn new(limits: Limits) -> Self {
        let (sender, _) = broadcast::channel(limits.client_queue.max(1));
        Self {
            inner: Arc::new(Mutex::new(Inner {
                seq: 0,
                charts: BTreeMap::new(),
                strategies: BTreeSet::new(),
                signals: VecDeque::new(),
                health: "null".into(),
                sender,
            })),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("dashboard book lock poisoned")
    }

    /// Adds (or, for a bar seen before, replaces) one bar and tells every browser.
    pub fn add_bar(&self, signal: &Signal) {
        let key = chart_key(signal);
        let json: Arc<str> = serde_json::to_string(&BarOut {
            chart: key.clone(),
            signal,
        })
        .expect("a signal serializes")
        .into();
        let time = signal.bar_start.timestamp_millis();
        let mut inner = self.lock();
        if !inner.strategies.contains(&signal.strategy) {
            inner.strategies.insert(signal.strategy.clone());
        }
        let chart = inner.charts.entry(key).or_default();
        // Usually the newest bar; a re-delivered or late one goes in its place.
        let at = chart.bars.partition_point(|(t, _)| *t < time);
        match chart.bars.get(at) {
            Some((t, _)) if *t == time => chart.bars[at].1 = json.clone(),
            _ => chart.bars.insert(at, (time, json.clone())),
        }
        while chart.bars.len() > self.limits.history_bars {
            chart.bars.pop_front();
        }
        if signal.action != Action::Hold {
            inner.signals.push_back(json.clone());
            while inner.signals.len() > self.limits.recent_signals {
                inner.signals.pop_front();
            }
        }
        inner.publish("bar", |seq| format!(r#"{{"seq":{seq},"bar":{json}}}"#));
    }

    /// Replaces the health report (a JSON object) and tells every browser.
    pub fn set_health(&self, health: String) {
        let mut inner = self.lock();
        inner.health = health.clone();
        inner.publish("health", |seq| {
            format!(r#"{{"seq":{seq},"health":{health}}}"#)
        });
    }

    /// A snapshot of everything now and the stream of changes after it.
    pub fn subscribe(&self) -> Subscription {
        let inner = self.lock();
        let mut data = format!(
            r#"{{"seq":{},"history_bars":{},"charts":{{"#,
            inner.seq, self.limits.history_bars
        );
        for (i, (key, chart)) in inner.charts.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let key = serde_json::to_string(key).expect("a string serializes");
            let _ = write!(data, "{sep}{key}:[");
            for (j, (_, bar)) in chart.bars.iter().enumerate() {
                data.push_str(if j == 0 { "" } else { "," });
                data.push_str(bar);
            }
            data.push(']');
        }
        data.push_str(r#"},"signals":["#);
        for (i, s) in inner.signals.iter().enumerate() {
            data.push_str(if i == 0 { "" } else { "," });
            data.push_str(s);
        }
        let _ = write!(data, r#"],"health":{}}}"#, inner.health);
        Subscription {
            snapshot: Event {
                seq: inner.seq,
                name: "snapshot",
                data,
            },
            events: inner.sender.subscribe(),
        }
    }

    /// Every strategy seen on the topic.
    pub fn strategies(&self) -> BTreeSet<String> {
        self.lock().strategies.clone()
    }

    /// Browsers connected now.
    pub fn clients(&self) -> usize {
        self.lock().sender.receiver_count()
    }
}

impl Inner {
    fn publish(&mut self, name: &'static str, data: impl FnOnce(u64) -> String) {
        self.seq += 1;
        let event = Event {
            seq: self.seq,
            name,
            data: data(self.seq),
        };
        // No receiver (no browser) is not an error: the change is in the book for the next.
        let _ = self.sender.send(Arc::new(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::decode::tests::signal_json;

    fn signal(symbol: &str, minute: u32, action: &str) -> Signal {
        let json = signal_json("s", symbol, minute).replace("\"BUY\"", &format!("\"{action}\""));
        serde_json::from_str(&json).unwrap()
    }

    fn book(history_bars: usize, client_queue: usize) -> Book {
        Book::new(Limits {
            history_bars,
            recent_signals: 2,
            client_queue,
        })
    }

    #[test]
    fn keeps_the_last_bars_per_chart_in_time_order_and_replaces_repeats() {
        let book = book(3, 16);
        for minute in [5, 6, 8, 7, 9, 9] {
            book.add_bar(&signal("A", minute, "HOLD"));
        }
        book.add_bar(&signal("B", 5, "SELL"));
        let snap = book.subscribe().snapshot;
        assert_eq!(snap.seq, 7);
        let v: serde_json::Value = serde_json::from_str(&snap.data).unwrap();
        let starts: Vec<&str> = v["charts"]["s · A"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["bar_start"].as_str().unwrap())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-11-24T21:06:00Z",
                "2026-11-24T21:07:00Z",
                "2026-11-24T21:08:00Z"
            ]
        );
        assert_eq!(v["charts"]["s · B"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["signals"].as_array().unwrap().len(),
            1,
            "HOLD is no signal"
        );
        assert!(v["health"].is_null());
    }

    #[tokio::test]
    async fn a_subscriber_sees_every_change_after_its_snapshot_and_a_laggard_is_cut_off() {
        let book = book(10, 4);
        book.add_bar(&signal("A", 5, "BUY"));
        let mut sub = book.subscribe();
        assert_eq!(sub.snapshot.seq, 1);
        book.set_health("{}".into());
        book.add_bar(&signal("A", 6, "HOLD"));
        assert_eq!(sub.events.recv().await.unwrap().seq, 2);
        assert_eq!(sub.events.recv().await.unwrap().seq, 3);
        for minute in 7..13 {
            book.add_bar(&signal("A", minute, "HOLD"));
        }
        assert!(matches!(
            sub.events.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        assert_eq!(book.clients(), 1);
        drop(sub);
        assert_eq!(book.clients(), 0);
    }
}
