//! Kraken WebSocket API v2: the wire format ([`protocol`]) and the live source ([`client`]).

pub mod client;
pub mod protocol;
