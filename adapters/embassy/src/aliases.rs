//! rsvp's types with the embassy lock and timer filled in.
//!
//! Every alias takes the embassy-sync raw lock last, defaulting to
//! [`CriticalSectionRawMutex`] (safe to share between executors and interrupts). Use
//! [`NoopRawMutex`](embassy_sync::blocking_mutex::raw::NoopRawMutex) when every user of the
//! object runs on one executor: it costs no critical section at all, but such an object is
//! `!Sync`, so it lives in a `StaticCell` (or on a task's stack) rather than a `static`.

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

use rsvp::rpc::With;

use crate::{EmbassyMutex, EmbassyTimer};

/// A request/response endpoint with `N` reply slots (at most `N` calls in flight) and a
/// request queue of `N`. Make it in a `static` with `Rpc::new(EmbassyTimer)`.
pub type Rpc<Req, Resp, const N: usize, M = CriticalSectionRawMutex> =
    rsvp::Rpc<Req, Resp, N, With<EmbassyMutex<M>, EmbassyTimer>>;

/// The calling end of a `static` [`Rpc`]: `Caller::new(&RPC)`.
pub type Caller<Req, Resp, const N: usize, M = CriticalSectionRawMutex> =
    rsvp::Caller<&'static Rpc<Req, Resp, N, M>>;

/// The responding end of a `static` [`Rpc`]: `Server::new(&RPC)`.
pub type Server<Req, Resp, const N: usize, M = CriticalSectionRawMutex> =
    rsvp::Server<&'static Rpc<Req, Resp, N, M>>;

/// The reply handle of one request received from a [`Server`].
pub type Responder<Req, Resp, const N: usize, M = CriticalSectionRawMutex> =
    rsvp::Responder<&'static Rpc<Req, Resp, N, M>>;

/// A set-once value awaited by any number of tasks; `Promise::new()` is `const`. Wait
/// with a timeout through [`EmbassyTimer`]: `PROMISE.wait_timeout(&EmbassyTimer, d)`.
pub type Promise<T, M = CriticalSectionRawMutex> = rsvp::Promise<T, EmbassyMutex<M>>;
