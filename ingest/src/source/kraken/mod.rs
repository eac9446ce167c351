//! Kraken WebSocket API v2: the wire format ([`protocol`]), which the client and the
//! [fake exchange](crate::fake_exchange) share, and the live source (`client`).

pub(crate) mod client;
pub mod protocol;
