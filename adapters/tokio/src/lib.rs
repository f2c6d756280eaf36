#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod channel;
mod spawn;
mod timer;

pub use channel::{
    channel, local_channel, Caller, LocalCaller, LocalResponder, LocalRpc, LocalServer, Responder,
    Rpc, Server,
};
/// `CallService` and its types, re-exported from `rsvp-tower` (feature `tower`), where they
/// live so that any executor can use them without tokio.
#[cfg(feature = "tower")]
pub use rsvp_tower::{CallService, ResponseFuture, ServiceError};
pub use spawn::{spawn_local_server, spawn_server, spawn_server_on};
pub use timer::{Sleep, TokioTimer};

/// The core crate, re-exported so that everything of it (`rsvp_tokio::rsvp::lock`,
/// `rsvp_tokio::rsvp::batch`, ...) needs no second dependency line.
pub use rsvp;
// The names a program matches on or passes, at this crate's root with its aliases.
#[doc(no_inline)]
pub use rsvp::{CallError, CloseMode, Timed, TryCallError};
