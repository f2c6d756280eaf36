//! rsvp's types with the embassy lock and timer filled in.
//!
//! An endpoint keeps no instants of its calls but their deadlines
//! ([`Unstamped`](rsvp::time::Unstamped)): a reply slot costs less RAM, and nothing of
//! `timed()` or latency statistics is stored that a firmware does not use. Name
//! [`Stamped`](rsvp::time::Stamped) as the last parameter of [`Rpc`] (and its handles) to
//! keep them.
//!
//! Every alias takes the embassy-sync raw lock after its sizes, defaulting to
//! [`CriticalSectionRawMutex`] (safe to share between executors and interrupts). Use
//! [`NoopRawMutex`](embassy_sync::blocking_mutex::raw::NoopRawMutex) when every user of the
//! object runs on one executor: it costs no critical section at all, but such an object is
//! `!Sync`, so it lives in a `StaticCell` (or on a task's stack) rather than a `static`.

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

use rsvp::queue::InlineQueue;
use rsvp::rpc::With;
use rsvp::time::Unstamped;

use crate::{EmbassyMutex, EmbassyTimer};

/// A request/response endpoint with `N` reply slots (at most `N` calls in flight) and a
/// request queue of `N`. Make it in a `static` with `Rpc::new(EmbassyTimer)`.
pub type Rpc<Req, Resp, const N: usize, M = CriticalSectionRawMutex, T = Unstamped> =
    rsvp::Rpc<Req, Resp, N, With<EmbassyMutex<M>, EmbassyTimer, InlineQueue, T>>;

/// The calling end of a `static` [`Rpc`]: `Caller::new(&RPC)`.
pub type Caller<Req, Resp, const N: usize, M = CriticalSectionRawMutex, T = Unstamped> =
    rsvp::Caller<&'static Rpc<Req, Resp, N, M, T>>;

/// The responding end of a `static` [`Rpc`]: `Server::new(&RPC)`.
pub type Server<Req, Resp, const N: usize, M = CriticalSectionRawMutex, T = Unstamped> =
    rsvp::Server<&'static Rpc<Req, Resp, N, M, T>>;

/// The reply handle of one request received from a [`Server`].
pub type Responder<Req, Resp, const N: usize, M = CriticalSectionRawMutex, T = Unstamped> =
    rsvp::Responder<&'static Rpc<Req, Resp, N, M, T>>;

/// A set-once value awaited by any number of tasks; `Promise::new()` is `const`. Wait
/// with a timeout through [`EmbassyTimer`]: `PROMISE.wait_timeout(&EmbassyTimer, d)`.
pub type Promise<T, M = CriticalSectionRawMutex> = rsvp::Promise<T, EmbassyMutex<M>>;
