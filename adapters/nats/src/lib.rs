#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod caller;
pub mod codec;
mod error;
mod serve;
pub mod wire;

pub use caller::Caller;
#[cfg(feature = "postcard")]
pub use codec::Postcard;
pub use codec::{Codec, Json};
pub use error::Error;
pub use serve::{ServeStats, Service, ServiceHandle, Serving};

/// The reply handle a [`Service`]'s handler gets with each request: rsvp's own
/// [`Responder`](rsvp::Responder), on the service's local endpoint. Its `deadline()` is the
/// request's arrival plus the caller's remaining budget; `is_cancelled()` and
/// `cancelled()` see the caller's cancel message and the deadline; `reply` is refused once
/// the call is over.
pub type Responder<Req, Resp> = rsvp_tokio::Responder<Req, Resp>;

/// The crates underneath, re-exported so that `rsvp_nats::rsvp::CallError` and
/// `rsvp_nats::async_nats::connect` need no dependency lines of their own.
pub use async_nats;
pub use rsvp;
