#![doc = include_str!("../README.md")]
#![no_std]

mod aliases;
mod mutex;
mod timer;

pub use aliases::{Caller, Promise, Responder, Rpc, Server};
pub use mutex::EmbassyMutex;
pub use timer::{EmbassyTimer, Sleep};

/// The core crate, re-exported so that everything of it (`rsvp_embassy::rsvp::lock`,
/// `rsvp_embassy::rsvp::batch`, ...) needs no second dependency line.
pub use rsvp;
// The names a program matches on or passes, at this crate's root with its aliases.
#[doc(no_inline)]
pub use rsvp::{CallError, CloseMode, Timed, TryCallError};
// What a promise's `wait_timeout` fails with.
#[doc(no_inline)]
pub use rsvp::promise::WaitError;
// The aliases' last parameter: the default lock, and the lock-free one for objects used by
// one executor only (see the crate docs). Re-exported, so that they are embassy-sync's
// version this crate was built with.
#[doc(no_inline)]
pub use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
