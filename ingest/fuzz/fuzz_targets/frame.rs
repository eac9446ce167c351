//! Any bytes as a WebSocket text frame: the parser must never panic, and whatever it accepts
//! as a trade must satisfy the contract (finite positive price and size, a symbol), since that
//! is what goes to Kafka unchecked.
#![no_main]

use ingest::source::kraken::protocol::{parse, Message, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Request::parse(text);
    if let Ok(Message::Trades { trades, .. }) = parse(text, chrono::Utc::now()) {
        for trade in trades.into_iter().flatten() {
            assert!(trade.price.is_finite() && trade.price > 0.0);
            assert!(trade.qty.is_finite() && trade.qty > 0.0);
            assert!(!trade.symbol.is_empty() && !trade.ord_type.is_empty());
            let json = trade.to_json();
            let back: contract::records::Trade =
                serde_json::from_str(&json).expect("our own JSON reads back");
            assert_eq!(
                (back.trade_id, &back.symbol),
                (trade.trade_id, &trade.symbol)
            );
        }
    }
});
