#![doc = include_str!("../README.md")]
#![no_std]

mod aliases;
mod mutex;
mod timer;

pub use aliases::{Caller, Promise, Responder, Rpc, Server};
pub use mutex::EmbassyMutex;
pub use timer::{EmbassyTimer, Sleep};

/// The core crate, re-exported so that `rsvp_embassy::rsvp::CallError` and friends need no
/// second dependency line.
pub use rsvp;
