#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod channel;
mod spawn;
mod timer;
#[cfg(feature = "tower")]
mod tower;

pub use channel::{
    channel, local_channel, Caller, LocalCaller, LocalResponder, LocalRpc, LocalServer, Responder,
    Rpc, Server,
};
pub use spawn::{spawn_local_server, spawn_server, spawn_server_on};
pub use timer::{Sleep, TokioTimer};
#[cfg(feature = "tower")]
pub use tower::{CallService, ResponseFuture, ServiceError};

/// The core crate, re-exported so that `rsvp_tokio::rsvp::CallError` and friends need no
/// second dependency line.
pub use rsvp;
