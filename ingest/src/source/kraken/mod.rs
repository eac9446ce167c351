//! Kraken: the WebSocket API v2 wire format ([`protocol`]) and the public REST API's
//! ([`rest`]), which the client and the [fake exchange](crate::fake_exchange) share; the live
//! source (`client`), and the filling of gaps a reconnect leaves (`backfill`).

mod backfill;
pub(crate) mod client;
pub mod protocol;
pub mod rest;
