//! The outcomes of a call that are not a reply.
//!
//! Every call ends in exactly one of: the reply, [`Full`](TryCallError::Full) (only from
//! `try_*`), [`Timeout`](CallError::Timeout), [`Closed`](CallError::Closed) or
//! [`Lost`](CallError::Lost). The same set on every adapter and target.

use core::fmt;

/// Why an awaited call produced no reply.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallError {
    /// The call's deadline passed first. The responder sees the call as cancelled.
    Timeout,
    /// No responder will ever take the request: the endpoint was shut down, or every
    /// server handle was dropped, before the request was taken.
    Closed,
    /// The responder took the request and then dropped its reply handle (or panicked)
    /// without replying.
    Lost,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "call timed out",
            Self::Closed => "endpoint closed before the request was taken",
            Self::Lost => "responder dropped the request without replying",
        })
    }
}

impl core::error::Error for CallError {}

/// Why a call could not be started at once; the request is handed back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TryCallError<Req> {
    /// Every reply slot (or the request queue) is in use: backpressure. Retry later, or use
    /// the waiting `call`.
    Full(Req),
    /// The endpoint is shut down (or its last server handle was dropped).
    Closed(Req),
}

impl<Req> TryCallError<Req> {
    /// The request that was not sent.
    pub fn into_inner(self) -> Req {
        match self {
            Self::Full(req) | Self::Closed(req) => req,
        }
    }

    /// Whether this is [`Full`](Self::Full).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<Req> fmt::Debug for TryCallError<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<Req> fmt::Display for TryCallError<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("no free reply slot or queue space"),
            Self::Closed(_) => f.write_str("endpoint closed"),
        }
    }
}

impl<Req> core::error::Error for TryCallError<Req> {}

/// Why a request queue refused an item; the item is handed back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrySendError<T> {
    /// The queue is at capacity.
    Full(T),
    /// The queue was closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("queue full"),
            Self::Closed(_) => f.write_str("queue closed"),
        }
    }
}

impl<T> core::error::Error for TrySendError<T> {}

/// Why [`try_recv`](crate::Server::try_recv) returned no request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TryRecvError {
    /// Nothing is queued right now.
    Empty,
    /// Nothing is queued and nothing ever will be: the endpoint is closed.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "no request queued",
            Self::Closed => "endpoint closed",
        })
    }
}

impl core::error::Error for TryRecvError {}
