//! [`Kind`]: what an endpoint is built from, named by one type parameter of [`Rpc`].

use core::marker::PhantomData;

use super::transport::{InlineQueue, Transport};
use crate::sync::RawMutex;
#[cfg(doc)]
use crate::time::Unstamped;
use crate::time::{Clock, Stamped, Times};

#[cfg(doc)]
use super::Rpc;

/// How an endpoint is built: its lock, its clock, its request queue and what it records of
/// each call's times.
///
/// [`Rpc`] takes them as one type parameter, usually [`With`]: an endpoint's type is
/// `Rpc<Req, Resp, N, With<Lock, Clock>>`, or `With<Lock, Clock, Queue>` for another queue
/// than the default, or `With<Lock, Clock, Queue, Unstamped>` to keep no instants per call
/// ([`Times`]). A type of your own can name them once for every endpoint of a program:
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::InlineQueue;
/// use rsvp::rpc::Kind;
/// use rsvp::time::{NoClock, Unstamped};
/// use rsvp::Rpc;
///
/// /// Every endpoint of this program: one thread, no time.
/// struct Local;
///
/// impl<Req, const N: usize> Kind<Req, N> for Local {
///     type Lock = LocalMutex;
///     type Clock = NoClock;
///     type Queue = InlineQueue;
///     type Times = Unstamped;
/// }
///
/// let rpc: Rpc<u32, u32, 4, Local> = Rpc::new(NoClock);
/// assert_eq!(rpc.capacity(), 4);
/// ```
pub trait Kind<Req, const N: usize> {
    /// The lock, which picks the flavour: [`LocalMutex`](crate::lock::LocalMutex) for one
    /// thread, [`StdMutex`](crate::lock::StdMutex) or
    /// [`CriticalSectionMutex`](crate::lock::CriticalSectionMutex) across threads.
    type Lock: RawMutex;
    /// The clock that stamps calls (and, for timeouts, a [`Timer`](crate::time::Timer)).
    type Clock: Clock;
    /// The request queue: [`InlineQueue`], rsvp's ring inside the endpoint's lock; or any
    /// [`RequestQueue`](crate::queue::RequestQueue) of
    /// [`Envelope`](crate::queue::Envelope)s, such as rsvp's separate
    /// [`Queue`](crate::queue::Queue), which suits a lock that threads contend for (see
    /// [`InlineQueue`]).
    type Queue: Transport<Req, N>;
    /// What it records of each call's times: [`Stamped`] (three instants per call, for
    /// `timed()` results and latency stats) or [`Unstamped`] (none: smaller reply slots).
    type Times: Times;
}

/// The kind with lock `M`, clock `C`, request queue `Q` ([`InlineQueue`] unless named) and
/// times `T` ([`Stamped`] unless named).
///
/// A name only: no value of it is ever made.
///
/// ```
/// # #[cfg(feature = "std")]
/// # fn main() {
/// use rsvp::lock::StdMutex;
/// use rsvp::queue::{Envelope, Queue};
/// use rsvp::rpc::With;
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
///
/// // Shared between threads, with the queue inside the endpoint's lock.
/// static INLINE: Rpc<u32, u32, 4, With<StdMutex, NoClock>> = Rpc::new(NoClock);
/// // The same, with rsvp's separate queue.
/// static QUEUED: Rpc<u32, u32, 4, With<StdMutex, NoClock, Queue<StdMutex, Envelope<u32>, 4>>> =
///     Rpc::new(NoClock);
/// assert_eq!(INLINE.capacity(), QUEUED.capacity());
/// # }
/// # #[cfg(not(feature = "std"))]
/// # fn main() {}
/// ```
// `fn() -> ..`: a name holds no values, so it is `Send`, `Sync` and `Unpin` whatever it names.
#[allow(clippy::type_complexity)]
pub struct With<M, C, Q = InlineQueue, T = Stamped>(PhantomData<fn() -> (M, C, Q, T)>);

impl<Req, const N: usize, M, C, Q, T> Kind<Req, N> for With<M, C, Q, T>
where
    M: RawMutex,
    C: Clock,
    Q: Transport<Req, N>,
    T: Times,
{
    type Lock = M;
    type Clock = C;
    type Queue = Q;
    type Times = T;
}
