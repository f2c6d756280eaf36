#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod channel;
mod timer;

pub use channel::{
    channel, channel_with, local_channel, local_channel_with, Caller, LocalCaller, LocalResponder,
    LocalRpc, LocalServer, Responder, Rpc, Server,
};
pub use timer::{FuturesTimer, Sleep};

/// The core crate, re-exported so that `rsvp_futures::rsvp::CallError` and friends need no
/// second dependency line.
pub use rsvp;
