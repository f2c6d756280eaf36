#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod channel;
mod spawn;
mod timer;

pub use channel::{
    channel, local_channel, Caller, LocalCaller, LocalResponder, LocalRpc, LocalServer, Responder,
    Rpc, Server,
};
pub use spawn::{spawn_local_server, spawn_server, spawn_server_on};
pub use timer::{Sleep, SmolTimer};

/// The core crate, re-exported so that `rsvp_smol::rsvp::CallError` and friends need no
/// second dependency line.
pub use rsvp;
