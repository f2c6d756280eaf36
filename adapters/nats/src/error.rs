//! Why a call over NATS produced no reply: rsvp's own outcomes, and the few that only a
//! network has.

use std::fmt;

use rsvp::CallError;

use crate::codec::CodecError;

/// Why a call over NATS produced no reply.
///
/// The outcomes every rsvp call has come as [`Call`](Self::Call) (`Timeout`, `Closed`,
/// `Lost`: [`call_error`](Self::call_error) gives them back); the others exist only across
/// a network. Every call ends in exactly one of them, or its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// One of rsvp's outcomes: `Timeout` (the deadline passed; the responder was sent a
    /// cancel), `Closed` (no responder on the subject, or it was shutting down), `Lost`
    /// (the responder's handler dropped its responder or panicked).
    Call(CallError),
    /// The responder's bound on work in progress was reached; nothing was run. Like
    /// `try_call`'s `Full`: try again later, or elsewhere.
    Full,
    /// The connection to the NATS server is down (or the client was closed): the call was
    /// not sent, or its reply cannot arrive. The client reconnects by itself.
    Disconnected,
    /// The responder could not read the request (an undecodable payload, a missing or
    /// malformed budget header) and said why; nothing was run.
    Rejected(String),
    /// The request could not be encoded; nothing was sent.
    Encode(CodecError),
    /// The reply arrived but could not be decoded as the reply type.
    Decode(CodecError),
    /// The NATS client refused the request (an invalid subject, a payload over the
    /// server's limit), or a reply carried a status this crate does not know.
    Nats(String),
}

impl Error {
    /// The rsvp outcome, if this is one.
    pub fn call_error(&self) -> Option<CallError> {
        match self {
            Self::Call(e) => Some(*e),
            _ => None,
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        Self::Call(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call(CallError::Closed) => f.write_str("no responder took the request"),
            Self::Call(e) => e.fmt(f),
            Self::Full => f.write_str("the responder is at its bound on work in progress"),
            Self::Disconnected => f.write_str("the connection to the NATS server is down"),
            Self::Rejected(why) => write!(f, "the responder rejected the request: {why}"),
            Self::Encode(e) => write!(f, "the request could not be encoded: {e}"),
            Self::Decode(e) => write!(f, "the reply could not be decoded: {e}"),
            Self::Nats(why) => write!(f, "nats: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Call(e) => Some(e),
            Self::Encode(e) | Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}
