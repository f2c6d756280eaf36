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

/// The core crate, re-exported so that everything of it (`rsvp_smol::rsvp::lock`,
/// `rsvp_smol::rsvp::batch`, ...) needs no second dependency line.
pub use rsvp;
// The names a program matches on or passes, at this crate's root with its aliases.
#[doc(no_inline)]
pub use rsvp::{CallError, CloseMode, Timed, TryCallError};
/// smol, re-exported: the executor the spawn helpers take and the `Task` they return are
/// this version's, and `rsvp_smol::smol::block_on` needs no second dependency line.
pub use smol;
