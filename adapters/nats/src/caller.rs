//! The calling side: a request with its budget and call id, a reply or a status, and a
//! cancel message when the caller gives up.
//!
//! Replies come on a subscription of the caller's own (`<inbox>.*`, one per caller and its
//! clones, made at its first call), not through async-nats' `Client::request`: async-nats
//! forgets a request only when a reply comes, so every call whose responder died would
//! leave an entry in the client until it is dropped. Here a call's entry goes when the
//! call ends, however it ends. The waiting calls read that subscription themselves (see
//! [`Replies`]): a reply reaches its call with no hop through a task in between.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{
    Client, HeaderMap, Message, PublishErrorKind, StatusCode, Subject, SubscribeErrorKind,
    Subscriber,
};
use bytes::Bytes;
use futures_util::future::{select, Either};
use futures_util::{FutureExt, StreamExt};
use rsvp::CallError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::codec::{Codec, Json};
use crate::wire::{self, Status};
use crate::Error;

/// How often a waiting call looks at the connection, so that a connection lost mid-call
/// ends it with [`Error::Disconnected`] rather than at its deadline.
const STATE_CHECK: Duration = Duration::from_millis(100);

/// The calling end of an rsvp service on a NATS subject: requests of type `Req`, replies
/// of type `Resp`, payloads in codec `C` (JSON unless given).
///
/// Cheap to clone (the clones share the client and the reply subscription); works under
/// tokio, and under any other executor inside `async_compat::Compat` (async-nats needs
/// tokio's reactor).
///
/// A caller and its clones receive their replies on one subscription of their own, made at
/// the first call (read by the waiting calls themselves, no task of its own) and ended when
/// the last clone is dropped: clone a caller rather than making a new one for each call.
pub struct Caller<Req, Resp, C = Json> {
    client: Client,
    subject: Subject,
    cancel_subject: Subject,
    replies: Arc<OnceCell<Replies>>,
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

    /// Appends the id's 32 hex digits to `out`. By hand: `format!("{:032x}")` costs more
    /// than the rest of the call's bookkeeping.
    fn push_hex(self, out: &mut String) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 32];
        for (i, digit) in hex.iter_mut().enumerate() {
            *digit = DIGITS[((self.0 >> (124 - 4 * i)) & 0xf) as usize];
        }
        out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    }

    /// The id's 32 hex digits.
    fn hex(self) -> String {
        let mut hex = String::with_capacity(32);
        self.push_hex(&mut hex);
        hex
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
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
            replies: Arc::new(OnceCell::new()),
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
        let headers = wire::request_headers(budget);
        let mut guard = CancelOnDrop {
            client: &self.client,
            subject: &self.cancel_subject,
            call: Some(id),
        };
        // Dropped when the call ends, however it ends: then its reply entry is gone.
        let mut reply = pin!(self.request(id, headers, payload));
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

    /// Publishes the request with the call's reply subject and waits for the reply message.
    async fn request(
        &self,
        id: CallId,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Message, Error> {
        let replies = self
            .replies
            .get_or_try_init(|| Replies::start(&self.client))
            .await?;
        // Dropped when the call ends, however it ends: then its place is gone.
        let reply = replies.enter(id)?;
        self.client
            .publish_with_reply_and_headers(
                self.subject.clone(),
                replies.subject(id),
                headers,
                payload,
            )
            .await
            .map_err(|e| match e.kind() {
                PublishErrorKind::InvalidSubject | PublishErrorKind::MaxPayloadExceeded => {
                    Error::Nats(e.to_string())
                }
                // The connection task is gone: the client was closed.
                PublishErrorKind::Send => Error::Disconnected,
            })?;
        reply.await
    }

    fn read(&self, message: Result<Message, Error>) -> Result<Resp, Error> {
        let message = message?;
        if message.status == Some(StatusCode::NO_RESPONDERS) {
            return Err(Error::Call(CallError::Closed));
        }
        if let Some((outcome, why)) = wire::outcome(message.headers.as_ref()) {
            return Err(match Status::parse(outcome) {
                Some(Status::Lost) => Error::Call(CallError::Lost),
                Some(Status::Closed) => Error::Call(CallError::Closed),
                // Sent after the responder's deadline (which is the caller's), or to a
                // cancelled call: a caller still waiting has, or is about to, time out.
                Some(Status::Timeout | Status::Cancelled) => Error::Call(CallError::Timeout),
                Some(Status::Full) => Error::Full,
                Some(Status::Rejected) => Error::Rejected(why.to_owned()),
                None => Error::Nats(format!(
                    "unknown {} {outcome:?}: {why}",
                    wire::OUTCOME_HEADER
                )),
            });
        }
        self.codec.decode(&message.payload).map_err(Error::Decode)
    }
}

/// Where a caller's replies arrive: a subscription to `<inbox>.*`, each call's reply subject
/// being `<inbox>.<its id>`.
///
/// No task of its own: the waiting calls read the subscription themselves. One of them at a
/// time, the *reader*, has its waker in the subscription; when a message comes, that call
/// is woken, and its poll hands every message read to the call it belongs to (a reply
/// nobody waits for any more is dropped) and wakes that call. A call that finds its own
/// reply returns at once, with no hop through another task. A reader that leaves (its
/// reply came, or it gave up) makes another waiting call the reader before it goes, by
/// polling the subscription with that call's waker, so a message never waits for a reader
/// while a call waits for it. A waiting call also reads whenever it is polled (its
/// connection check polls it every [`STATE_CHECK`]), so a reader whose task is slow to poll
/// it delays the others' replies at most that long.
struct Replies {
    /// `<inbox>.`: a call's reply subject is this and its id.
    prefix: String,
    state: Mutex<Inbox>,
}

/// The subscription and the calls waiting on it.
struct Inbox {
    /// `None` once the subscription ended (the client was closed): no reply will come.
    /// Dropped (unsubscribing) with the last clone of the caller.
    subscriber: Option<Subscriber>,
    /// The calls waiting for a reply, by id.
    calls: HashMap<u128, Slot, BuildHasherDefault<IdHasher>>,
    /// The call whose waker the subscription holds.
    reader: Option<u128>,
    /// The wakers of calls a read answered, to be woken once the lock is released (no
    /// waker runs under a lock: one may poll its future inline). Its buffer is reused.
    woken: Vec<Waker>,
}

/// Hashes a call id by its low 64 bits. The ids in the map are made here, from a CSPRNG:
/// SipHash's defence against chosen keys buys nothing, and costs on every lookup.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for a u128 (`write_u128`); any bytes still hash deterministically.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }
}

/// A call's place in [`Inbox`].
enum Slot {
    /// No reply yet; the call's waker once it has been polled.
    Waiting(Option<Waker>),
    /// Its reply, read by another call, until it takes it.
    Replied(Message),
}

fn lock(state: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    // Nothing panics while holding it; a poisoned map is still consistent.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Replies {
    /// Subscribes to the caller's reply subjects.
    async fn start(client: &Client) -> Result<Self, Error> {
        let prefix = format!("{}.", client.new_inbox());
        let subscriber =
            client
                .subscribe(format!("{prefix}*"))
                .await
                .map_err(|e| match e.kind() {
                    SubscribeErrorKind::Other => Error::Disconnected,
                    _ => Error::Nats(e.to_string()),
                })?;
        Ok(Self {
            prefix,
            state: Mutex::new(Inbox {
                subscriber: Some(subscriber),
                calls: HashMap::default(),
                reader: None,
                woken: Vec::new(),
            }),
        })
    }

    /// The reply subject of call `id`.
    fn subject(&self, id: CallId) -> String {
        let mut subject = String::with_capacity(self.prefix.len() + 32);
        subject.push_str(&self.prefix);
        id.push_hex(&mut subject);
        subject
    }

    /// Releases the lock, then wakes the calls a read answered. The waker buffer goes back
    /// (one more lock) only if it was used.
    fn wake(&self, mut state: MutexGuard<'_, Inbox>) {
        if state.woken.is_empty() {
            return;
        }
        let mut woken = std::mem::take(&mut state.woken);
        drop(state);
        for waker in woken.drain(..) {
            waker.wake();
        }
        let mut state = lock(&self.state);
        if state.woken.capacity() == 0 {
            state.woken = woken;
        }
    }

    /// Waits for the reply to call `id`: the returned future gives it. Made before the
    /// request is published, so that a reply read early finds its place.
    fn enter(&self, id: CallId) -> Result<Reply<'_>, Error> {
        let mut state = lock(&self.state);
        if state.subscriber.is_none() {
            return Err(Error::Disconnected);
        }
        state.calls.insert(id.0, Slot::Waiting(None));
        Ok(Reply {
            replies: self,
            id: id.0,
            done: false,
        })
    }
}

impl Inbox {
    /// Reads every message the subscription has, each to its call, until it has none left:
    /// then `waker`'s call (`reader`) is the one woken for the next.
    fn read(&mut self, prefix: &str, reader: u128, waker: &Waker) {
        let mut cx = Context::from_waker(waker);
        loop {
            let Some(subscriber) = &mut self.subscriber else {
                return;
            };
            match subscriber.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(message)) => self.deliver(prefix, reader, message),
                Poll::Ready(None) => {
                    // The client was closed: every waiting call ends `Disconnected`.
                    self.subscriber = None;
                    self.reader = None;
                    for (_, slot) in self.calls.drain() {
                        if let Slot::Waiting(Some(waker)) = slot {
                            self.woken.push(waker);
                        }
                    }
                    return;
                }
                Poll::Pending => {
                    self.reader = Some(reader);
                    return;
                }
            }
        }
    }

    /// Hands `message` to the call it is the reply of, if that call still waits.
    fn deliver(&mut self, prefix: &str, reader: u128, message: Message) {
        let id = message
            .subject
            .strip_prefix(prefix)
            .and_then(wire::call_id_bits);
        let Some(slot) = id.and_then(|id| self.calls.get_mut(&id)) else {
            return; // a late reply: its call is over
        };
        if let Slot::Waiting(waker) = std::mem::replace(slot, Slot::Replied(message)) {
            // The reader finds its own reply when its read ends.
            if let Some(waker) = waker.filter(|_| id != Some(reader)) {
                self.woken.push(waker);
            }
        }
    }

    /// Call `id` is over: its place goes; a reader leaving makes another waiting call the
    /// reader (the first one found that has been polled), or leaves none if none waits.
    fn leave(&mut self, prefix: &str, id: u128) -> Option<Slot> {
        let slot = self.calls.remove(&id);
        if self.reader == Some(id) {
            self.reader = None;
            let next = self.calls.iter().find_map(|(&id, slot)| match slot {
                Slot::Waiting(Some(waker)) => Some((id, waker.clone())),
                _ => None,
            });
            if let Some((next, waker)) = next {
                self.read(prefix, next, &waker);
            }
        }
        slot
    }
}

/// A call's reply, from the caller's subscription; its place there goes when it is dropped.
struct Reply<'a> {
    replies: &'a Replies,
    id: u128,
    /// The reply was given: the place is already gone.
    done: bool,
}

impl Future for Reply<'_> {
    type Output = Result<Message, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let prefix = this.replies.prefix.as_str();
        let mut state = lock(&this.replies.state);
        if let Some(Slot::Waiting(waker)) = state.calls.get_mut(&this.id) {
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            state.read(prefix, this.id, cx.waker());
            if let Some(Slot::Waiting(_)) = state.calls.get(&this.id) {
                this.replies.wake(state);
                return Poll::Pending;
            }
        }
        this.done = true;
        let left = state.leave(prefix, this.id);
        this.replies.wake(state);
        match left {
            Some(Slot::Replied(message)) => Poll::Ready(Ok(message)),
            // No place: the subscription ended, as the client was closed.
            _ => Poll::Ready(Err(Error::Disconnected)),
        }
    }
}

impl Drop for Reply<'_> {
    fn drop(&mut self) {
        if !self.done {
            let prefix = self.replies.prefix.as_str();
            let mut state = lock(&self.replies.state);
            state.leave(prefix, self.id);
            self.replies.wake(state);
        }
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
            let publish = self.client.publish(self.subject.clone(), id.hex().into());
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
            replies: self.replies.clone(),
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
        let id = CallId(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(id.hex(), "0123456789abcdeffedcba9876543210");
        assert_eq!(id.to_string(), format!("{:032x}", id.0));
    }
}
