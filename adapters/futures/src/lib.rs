#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod channel;
mod timer;

pub use channel::{
    channel, channel_with, local_channel, local_channel_with, Caller, LocalCaller, LocalResponder,
    LocalRpc, LocalServer, Responder, Rpc, Server,
};
pub use timer::{FuturesTimer, Sleep};

/// The core crate, re-exported so that everything of it (`rsvp_futures::rsvp::lock`,
/// `rsvp_futures::rsvp::batch`, ...) needs no second dependency line.
pub use rsvp;
// The names a program matches on or passes, at this crate's root with its aliases.
#[doc(no_inline)]
pub use rsvp::{CallError, CloseMode, Timed, TryCallError};
