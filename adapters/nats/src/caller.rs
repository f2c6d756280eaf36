//! The calling side: a request with its budget and call id, a reply or a status, and a
//! cancel message when the caller gives up.

use std::fmt;
use std::marker::PhantomData;
use std::pin::pin;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{Client, Message, RequestErrorKind, Subject};
use futures_util::future::{select, Either};
use futures_util::FutureExt;
use rsvp::CallError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{Codec, Json};
use crate::wire::{self, Status};
use crate::Error;

/// How often a waiting call looks at the connection, so that a connection lost mid-call
/// ends it with [`Error::Disconnected`] rather than at its deadline.
const STATE_CHECK: Duration = Duration::from_millis(100);

/// The calling end of an rsvp service on a NATS subject: requests of type `Req`, replies
/// of type `Resp`, payloads in codec `C` (JSON unless given).
///
/// Cheap to clone (the clones share the client); works under tokio, and under any other
/// executor inside `async_compat::Compat` (async-nats needs tokio's reactor).
pub struct Caller<Req, Resp, C = Json> {
    client: Client,
    subject: Subject,
    cancel_subject: Subject,
    default_timeout: Duration,
    codec: C,
    _types: PhantomData<fn(Req) -> Resp>,
}

/// A call's id: 128 bits from the thread's CSPRNG (rand's `ThreadRng`: ChaCha12 seeded and
/// reseeded from the operating system), written as 32 hex digits.
///
/// The id is what a cancel names, so it is the call's capability: whoever knows it can
/// cancel the call. Random per call, so that no id says anything about another (a
/// client that sees one call's cancel cannot name the next call); only what carries the
/// request itself (a subscriber to the subject, the responder) learns it.
#[derive(Clone, Copy)]
struct CallId(u128);

impl CallId {
    fn new() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl<Req, Resp> Caller<Req, Resp, Json> {
    /// A caller of the service on `subject`, speaking JSON, with calls bounded by 10 s unless
    /// they say otherwise ([`with_default_timeout`](Self::with_default_timeout)).
    pub fn new(client: Client, subject: impl Into<String>) -> Self {
        Self::with_codec(client, subject, Json)
    }
}

impl<Req, Resp, C: Codec> Caller<Req, Resp, C> {
    /// A caller of the service on `subject`, speaking `codec`.
    pub fn with_codec(client: Client, subject: impl Into<String>, codec: C) -> Self {
        let subject: String = subject.into();
        Self {
            cancel_subject: wire::cancel_subject(&subject).into(),
            subject: subject.into(),
            client,
            default_timeout: Duration::from_secs(10),
            codec,
            _types: PhantomData,
        }
    }

    /// Sets the timeout of [`call`](Self::call). A call across a network always has one: a
    /// responder process that dies is only seen as silence.
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The subject this caller sends to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The NATS client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl<Req: Serialize, Resp: DeserializeOwned, C: Codec> Caller<Req, Resp, C> {
    /// Sends `req` and waits for the reply, at most the default timeout (10 s unless set
    /// with [`with_default_timeout`](Self::with_default_timeout)).
    ///
    /// # Errors
    ///
    /// See [`call_deadline`](Self::call_deadline).
    ///
    /// # Cancellation
    ///
    /// See [`call_deadline`](Self::call_deadline).
    pub async fn call(&self, req: Req) -> Result<Resp, Error> {
        self.call_timeout(req, self.default_timeout).await
    }

    /// Sends `req` and waits for the reply at most `timeout`.
    ///
    /// # Errors
    ///
    /// See [`call_deadline`](Self::call_deadline).
    ///
    /// # Cancellation
    ///
    /// See [`call_deadline`](Self::call_deadline).
    pub async fn call_timeout(&self, req: Req, timeout: Duration) -> Result<Resp, Error> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.call_deadline(req, deadline).await,
            None => self.call_deadline(req, far_future()).await,
        }
    }

    /// Sends `req` and waits for the reply until `deadline`. The responder's handler sees
    /// the time left as its own deadline (the budget travels, not the instant).
    ///
    /// # Errors
    ///
    /// [`Error::Call`] with `Timeout` when the deadline passes first (the responder is sent
    /// a cancel), `Closed` when no responder listens on the subject (at once) or the
    /// responder is shutting down, `Lost` when its handler dropped its responder or
    /// panicked; [`Error::Disconnected`] when the connection is down when the call starts
    /// or goes down while it waits; [`Error::Full`], [`Error::Rejected`] when the responder
    /// refused it; [`Error::Encode`], [`Error::Decode`], [`Error::Nats`]. See the README's
    /// outcome table.
    ///
    /// # Cancellation
    ///
    /// Dropping the future after the request was sent publishes a cancel for it (if the
    /// client can take the message at once, without waiting), so the responder's handler
    /// sees `is_cancelled()` and its reply is refused; a late reply is dropped.
    pub async fn call_deadline(&self, req: Req, deadline: Instant) -> Result<Resp, Error> {
        if self.client.connection_state() != State::Connected {
            return Err(Error::Disconnected);
        }
        let Some(budget) = deadline.checked_duration_since(Instant::now()) else {
            return Err(Error::Call(CallError::Timeout));
        };
        let payload = self.codec.encode(&req).map_err(Error::Encode)?;
        let id = CallId::new();
        let request = async_nats::Request::new()
            .payload(payload)
            .headers(wire::request_headers(budget, id.to_string()))
            .timeout(None);
        let mut guard = CancelOnDrop {
            client: &self.client,
            subject: &self.cancel_subject,
            call: Some(id),
        };
        let mut reply = pin!(self.client.send_request(self.subject.clone(), request));
        loop {
            let now = Instant::now();
            let wake = deadline.min(now + STATE_CHECK);
            let sleep = pin!(tokio::time::sleep_until(wake.into()));
            match select(reply.as_mut(), sleep).await {
                Either::Left((result, _)) => {
                    guard.call = None;
                    return self.read(result);
                }
                Either::Right(((), _)) if Instant::now() >= deadline => {
                    guard.cancel();
                    return Err(Error::Call(CallError::Timeout));
                }
                Either::Right(((), _)) => {
                    if self.client.connection_state() != State::Connected {
                        // Published on reconnect; the responder may also have lost the call.
                        guard.cancel();
                        return Err(Error::Disconnected);
                    }
                }
            }
        }
    }

    fn read(&self, result: Result<Message, async_nats::RequestError>) -> Result<Resp, Error> {
        let message = match result {
            Ok(message) => message,
            Err(e) => {
                return Err(match e.kind() {
                    RequestErrorKind::NoResponders => Error::Call(CallError::Closed),
                    RequestErrorKind::InvalidSubject | RequestErrorKind::MaxPayloadExceeded => {
                        Error::Nats(e.to_string())
                    }
                    // The connection task is gone: the client was closed.
                    RequestErrorKind::Other => Error::Disconnected,
                    // Not asked for (`timeout(None)`), so only another client's setting.
                    RequestErrorKind::TimedOut => Error::Call(CallError::Timeout),
                });
            }
        };
        if let Some(headers) = &message.headers {
            if let Some(outcome) = headers.get(wire::OUTCOME_HEADER) {
                let why = headers
                    .get(wire::ERROR_HEADER)
                    .map_or_else(String::new, |v| v.as_str().to_owned());
                return Err(match Status::parse(outcome.as_str()) {
                    Some(Status::Lost) => Error::Call(CallError::Lost),
                    Some(Status::Closed) => Error::Call(CallError::Closed),
                    // Sent after the responder's deadline (which is the caller's), or to a
                    // cancelled call: a caller still waiting has, or is about to, time out.
                    Some(Status::Timeout | Status::Cancelled) => Error::Call(CallError::Timeout),
                    Some(Status::Full) => Error::Full,
                    Some(Status::Rejected) => Error::Rejected(why),
                    None => Error::Nats(format!(
                        "unknown {} {:?}: {why}",
                        wire::OUTCOME_HEADER,
                        outcome.as_str()
                    )),
                });
            }
        }
        self.codec.decode(&message.payload).map_err(Error::Decode)
    }
}

/// Far enough to never come, near enough not to overflow an `Instant`.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// Publishes the cancel of a call that was sent and has no outcome yet, when the caller's
/// future is dropped.
struct CancelOnDrop<'a> {
    client: &'a Client,
    subject: &'a Subject,
    /// The call's id, until it has an outcome.
    call: Option<CallId>,
}

impl CancelOnDrop<'_> {
    /// Publishes the cancel without waiting: the client's queue takes it at once or not at
    /// all. Waiting could outlast the caller's deadline (while the client reconnects, its
    /// queue is not read), and a cancel that cannot be sent changes nothing for this
    /// caller: the responder's own deadline still ends the call there.
    ///
    /// Outside tokio's cooperative budget: a task that has used its budget (one polling
    /// many calls, say) would otherwise be refused the queue's room, and the cancel lost.
    fn cancel(&mut self) {
        if let Some(id) = self.call.take() {
            let publish = self
                .client
                .publish(self.subject.clone(), id.to_string().into());
            let _ = tokio::task::coop::unconstrained(publish).now_or_never();
        }
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<Req, Resp, C: Clone> Clone for Caller<Req, Resp, C> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            subject: self.subject.clone(),
            cancel_subject: self.cancel_subject.clone(),
            default_timeout: self.default_timeout,
            codec: self.codec.clone(),
            _types: PhantomData,
        }
    }
}

impl<Req, Resp, C> fmt::Debug for Caller<Req, Resp, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("subject", &self.subject)
            .field("default_timeout", &self.default_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::CallId;

    #[test]
    fn call_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (CallId::new().to_string(), CallId::new().to_string());
        for id in [&a, &b] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(a, b);
        assert_eq!(CallId(0xab).to_string(), format!("{:0>32}", "ab"));
    }
}
