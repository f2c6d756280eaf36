//! The responding side: a queue-group subscription whose requests become calls on a local
//! rsvp endpoint, served by the user's handler with rsvp's bounded `serve`.
//!
//! # Design
//!
//! Each request message becomes one *answer*: a local call
//! (`call_deadline(req, arrival + budget)`) on an in-process [`rsvp_tokio::Rpc`], raced
//! against the call's cancel message, whose outcome is published to the message's reply
//! subject. The handler therefore holds rsvp's own [`Responder`](crate::Responder): its
//! deadline, `is_cancelled()`/`cancelled()` and a reply refused once the call is over all
//! come from the core, and the endpoint's stats count outcomes as in-process.
//!
//! ```text
//! request msg ─ decode ─┬─ rejected ──────────────────────────── status reply
//!                       ├─ `capacity` answers open ───────────── status `full`
//!                       └─ answer: local call ─┬─ reply ─────── value reply
//!   cancel msg (by id) ──── drops the call ────┤  lost/timeout ─ status reply
//!                                              └─ cancelled ─── status reply
//! ```
//!
//! Every request with a reply subject gets exactly one reply message (so the caller's
//! client forgets the request even when the caller gave up). One future polls the
//! subscriptions, the answers and the handlers: nothing is spawned.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap, Message, Subject, Subscriber};
use bytes::Bytes;
use futures_util::future::{select, BoxFuture, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use rsvp::{CallError, CloseMode, StatsSnapshot};
use rsvp_tokio::TokioTimer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::codec::{Codec, Json};
use crate::wire::{self, Status};
use crate::{Error, Responder};

type Endpoint<Req, Resp> = rsvp_tokio::Rpc<Req, Resp>;

/// The local endpoint's reply slots: calls past this wait for a slot (still bounded by
/// [`Service::capacity`]).
const SLOTS: usize = 64;

/// How many request messages one poll takes before it lets other tasks run.
const INTAKE_BATCH: usize = 64;

/// A service to be served on a NATS subject: requests of type `Req`, replies of type
/// `Resp`, payloads in codec `C` (JSON unless given). Configure it, then
/// [`serve`](Self::serve) it.
pub struct Service<Req, Resp, C = Json> {
    client: Client,
    subject: String,
    queue_group: String,
    concurrency: NonZeroUsize,
    capacity: usize,
    default_budget: Option<Duration>,
    codec: C,
    _types: std::marker::PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Service<Req, Resp, Json> {
    /// A service on `subject`, speaking JSON, in queue group `"rsvp"`, running at most 16
    /// handlers at once with at most 64 calls taken (running or waiting for a handler).
    pub fn new(client: Client, subject: impl Into<String>) -> Self {
        Self::with_codec(client, subject, Json)
    }
}

impl<Req, Resp, C: Codec> Service<Req, Resp, C> {
    /// A service on `subject`, speaking `codec`.
    pub fn with_codec(client: Client, subject: impl Into<String>, codec: C) -> Self {
        Self {
            client,
            subject: subject.into(),
            queue_group: "rsvp".to_owned(),
            concurrency: NonZeroUsize::new(16).unwrap_or(NonZeroUsize::MIN),
            capacity: SLOTS,
            default_budget: None,
            codec,
            _types: std::marker::PhantomData,
        }
    }

    /// The queue group: the responders of one subject in one group share its calls, each
    /// call going to one of them.
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = group.into();
        self
    }

    /// At most this many handlers run at once.
    pub fn concurrency(mut self, concurrency: NonZeroUsize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// At most this many calls are taken at once (running, or waiting for a handler);
    /// more are answered [`Error::Full`] at once. At least 1.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Accepts requests without a budget header (a plain NATS request from any client),
    /// giving them this budget. Without it, such a request is rejected: its caller gets
    /// [`Error::Rejected`] naming the missing header.
    pub fn default_budget(mut self, budget: Duration) -> Self {
        self.default_budget = Some(budget);
        self
    }
}

impl<Req, Resp, C> Service<Req, Resp, C>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    C: Codec,
{
    /// Subscribes to the subject (in the queue group) and to its cancel subject, makes sure
    /// the server has both subscriptions, and returns the future that serves them with
    /// `handler`: it gets each request and its [`Responder`], as rsvp's `Server::serve`
    /// does, with at most `concurrency` handlers in progress. A handler that drops its
    /// responder or panics gives its caller `Lost`, and serving goes on.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] or [`Error::Nats`] when a subscription fails.
    pub async fn serve<F, Fut>(self, handler: F) -> Result<Serving<Req, Resp, C, F, Fut>, Error>
    where
        F: FnMut(Req, Responder<Req, Resp>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let subscribe_error = |e: async_nats::SubscribeError| Error::Nats(e.to_string());
        let requests = self
            .client
            .queue_subscribe(self.subject.clone(), self.queue_group.clone())
            .await
            .map_err(subscribe_error)?;
        let cancels = self
            .client
            .subscribe(wire::cancel_subject(&self.subject))
            .await
            .map_err(subscribe_error)?;
        self.client.flush().await.map_err(|_| Error::Disconnected)?;
        let rpc = Arc::new(Endpoint::<Req, Resp>::new(TokioTimer));
        let (caller, server) = rsvp::Rpc::split(rpc.clone());
        let endpoint = rpc.clone();
        let shared = Arc::new(Shared::default());
        Ok(Serving {
            client: Arc::new(self.client),
            codec: self.codec,
            capacity: self.capacity,
            default_budget: self.default_budget,
            requests: Some(requests),
            cancels: Some(cancels),
            caller: Some(caller),
            rpc,
            serve: server.serve(self.concurrency, handler),
            served: false,
            answers: FuturesUnordered::new(),
            pending: HashMap::new(),
            handle: ServiceHandle {
                shared,
                endpoint_stats: Arc::new(move || endpoint.stats()),
            },
        })
    }
}

impl<Req, Resp, C> fmt::Debug for Service<Req, Resp, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("subject", &self.subject)
            .field("queue_group", &self.queue_group)
            .field("concurrency", &self.concurrency)
            .field("capacity", &self.capacity)
            .field("default_budget", &self.default_budget)
            .finish_non_exhaustive()
    }
}

/// What serving counts, beside the local endpoint's own stats.
#[derive(Default)]
struct Shared {
    received: AtomicU64,
    rejected: AtomicU64,
    full: AtomicU64,
    unanswerable: AtomicU64,
    publish_failed: AtomicU64,
    stop: AtomicBool,
    waker: AtomicWaker,
}
/// A handle on a [`Serving`] future: its stats, and a way to stop it. Cheap to clone.
#[derive(Clone)]
pub struct ServiceHandle {
    shared: Arc<Shared>,
    endpoint_stats: Arc<dyn Fn() -> StatsSnapshot + Send + Sync>,
}

impl ServiceHandle {
    /// How the requests taken so far ended.
    pub fn stats(&self) -> ServeStats {
        let s = &self.shared;
        ServeStats {
            received: s.received.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            full: s.full.load(Ordering::Relaxed),
            unanswerable: s.unanswerable.load(Ordering::Relaxed),
            publish_failed: s.publish_failed.load(Ordering::Relaxed),
            endpoint: (self.endpoint_stats)(),
        }
    }

    /// Stops serving: unsubscribes (no new requests), lets the handlers finish the calls
    /// already taken, publishes their outcomes, and then the [`Serving`] future returns.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.waker.wake();
    }
}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

/// How the request messages a service received ended.
///
/// Every message received is counted once: `rejected`, `full`, `unanswerable`, or a call
/// on the local endpoint, counted in `endpoint` exactly as an in-process call is (`replied`,
/// `lost`, `timeout`, `cancelled`, `closed`, or still `in_flight`/`queued`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServeStats {
    /// Request messages received on the subject.
    pub received: u64,
    /// Requests answered `rejected`: an undecodable payload, or a missing or malformed
    /// budget header.
    pub rejected: u64,
    /// Requests answered `full`: the service's capacity was reached.
    pub full: u64,
    /// Messages without a reply subject: nobody to answer, nothing run.
    pub unanswerable: u64,
    /// Replies (of any kind) the client could not publish: the connection was closed.
    pub publish_failed: u64,
    /// The local endpoint's stats: the calls that reached a handler, or waited for one.
    pub endpoint: StatsSnapshot,
}

impl ServeStats {
    /// Messages whose outcome is decided: every message received, once the service is idle.
    pub fn decided(&self) -> u64 {
        self.rejected + self.full + self.unanswerable + self.endpoint.total()
    }
}

/// The future that serves a [`Service`]; returned by [`Service::serve`]. Await it, or
/// spawn it (it is `Send` when the handler and its futures are).
///
/// It ends after [`ServiceHandle::stop`], or when the client's subscription ends (the
/// client was drained or closed), once every call taken has its outcome published, and
/// returns the final [`ServeStats`].
///
/// # Cancellation
///
/// Dropping it unsubscribes and drops the handlers in progress; their callers get nothing
/// more and end at their deadlines (`Timeout`).
#[must_use = "futures do nothing unless polled"]
pub struct Serving<Req, Resp, C, F, Fut>
where
    Fut: Future<Output = ()>,
{
    /// Shared with the answers: cloning an `Arc` is cheaper than cloning a `Client`.
    client: Arc<Client>,
    codec: C,
    capacity: usize,
    default_budget: Option<Duration>,
    requests: Option<Subscriber>,
    cancels: Option<Subscriber>,
    caller: Option<rsvp_tokio::Caller<Req, Resp>>,
    rpc: Arc<Endpoint<Req, Resp>>,
    serve: rsvp::ServeFuture<Arc<Endpoint<Req, Resp>>, F, Fut>,
    served: bool,
    /// Each resolves to the id of its call, to forget its cancel sender.
    answers: FuturesUnordered<BoxFuture<'static, Option<Arc<str>>>>,
    /// Cancel senders of the calls in progress, by call id.
    pending: HashMap<Arc<str>, oneshot::Sender<()>>,
    handle: ServiceHandle,
}

// Nothing in it is pinned in place: the serve future is `Unpin` and the answers are boxed.
impl<Req, Resp, C, F, Fut: Future<Output = ()>> Unpin for Serving<Req, Resp, C, F, Fut> {}

impl<Req, Resp, C, F, Fut> Serving<Req, Resp, C, F, Fut>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    C: Codec,
    F: FnMut(Req, Responder<Req, Resp>) -> Fut,
    Fut: Future<Output = ()>,
{
    /// Its stats, and a way to stop it.
    pub fn handle(&self) -> ServiceHandle {
        self.handle.clone()
    }

    /// One round over every part.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<ServeStats> {
        let this = self;
        if this.requests.is_some() && this.handle.shared.stop.load(Ordering::Acquire) {
            this.begin_stop();
        }
        // Cancels first: a call cancelled in this batch is dropped before it is answered.
        while let Some(cancels) = &mut this.cancels {
            match cancels.poll_next_unpin(cx) {
                Poll::Ready(Some(message)) => {
                    let id = std::str::from_utf8(&message.payload).unwrap_or_default();
                    if let Some(cancel) = this.pending.remove(id) {
                        let _ = cancel.send(());
                    }
                }
                Poll::Ready(None) => this.cancels = None,
                Poll::Pending => break,
            }
        }
        let mut intake = INTAKE_BATCH;
        while let Some(requests) = &mut this.requests {
            if intake == 0 {
                // More may be waiting: yield to other tasks, then come back.
                cx.waker().wake_by_ref();
                break;
            }
            match requests.poll_next_unpin(cx) {
                Poll::Ready(Some(message)) => {
                    intake -= 1;
                    this.take(message);
                }
                Poll::Ready(None) => this.begin_stop(),
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(id)) = this.answers.poll_next_unpin(cx) {
            if let Some(id) = id {
                this.pending.remove(&*id);
            }
        }
        if !this.served {
            this.served = Pin::new(&mut this.serve).poll(cx).is_ready();
        }
        if this.requests.is_none() && this.served && this.answers.is_empty() {
            this.cancels = None;
            return Poll::Ready(this.handle.stats());
        }
        Poll::Pending
    }

    fn take(&mut self, message: Message) {
        let shared = &self.handle.shared;
        shared.received.fetch_add(1, Ordering::Relaxed);
        let Some(reply) = message.reply else {
            shared.unanswerable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let budget = match wire::budget(message.headers.as_ref()) {
            Ok(Some(budget)) => budget,
            Ok(None) => match self.default_budget {
                Some(budget) => budget,
                None => {
                    let why = format!(
                        "missing {} header (the caller's remaining budget in microseconds)",
                        wire::BUDGET_HEADER
                    );
                    return self.refuse(reply, Status::Rejected, &why);
                }
            },
            Err(why) => return self.refuse(reply, Status::Rejected, &why),
        };
        let req: Req = match self.codec.decode(&message.payload) {
            Ok(req) => req,
            Err(e) => {
                return self.refuse(
                    reply,
                    Status::Rejected,
                    &format!("undecodable request: {e}"),
                )
            }
        };
        if self.answers.len() >= self.capacity {
            let why = format!("{} calls in progress", self.capacity);
            return self.refuse(reply, Status::Full, &why);
        }
        let (Some(caller), Some(deadline)) = (&self.caller, Instant::now().checked_add(budget))
        else {
            return self.refuse(reply, Status::Closed, "the responder is shutting down");
        };
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(wire::CALL_HEADER))
            .map(|id| Arc::<str>::from(id.as_str()));
        let cancelled = id.clone().map(|id| {
            let (tx, rx) = oneshot::channel();
            self.pending.insert(id, tx);
            rx
        });
        self.answers.push(Box::pin(answer(
            Answer {
                client: self.client.clone(),
                reply,
                codec: self.codec.clone(),
                shared: self.handle.shared.clone(),
            },
            caller.clone(),
            req,
            deadline,
            cancelled,
            id,
        )));
    }

    fn refuse(&mut self, reply: Subject, status: Status, why: &str) {
        let counter = match status {
            Status::Full => &self.handle.shared.full,
            _ => &self.handle.shared.rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let answer = Answer {
            client: self.client.clone(),
            reply,
            codec: self.codec.clone(),
            shared: self.handle.shared.clone(),
        };
        let headers = status.headers(why);
        self.answers.push(Box::pin(async move {
            answer.publish(Some(headers), Bytes::new()).await;
            None
        }));
    }

    /// No new requests: unsubscribe, and let the local endpoint finish what it has.
    fn begin_stop(&mut self) {
        self.requests = None;
        self.caller = None;
        self.rpc.close(CloseMode::Drain);
    }
}

impl<Req, Resp, C, F, Fut> Future for Serving<Req, Resp, C, F, Fut>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    C: Codec,
    F: FnMut(Req, Responder<Req, Resp>) -> Fut,
    Fut: Future<Output = ()>,
{
    type Output = ServeStats;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ServeStats> {
        let this = self.get_mut();
        this.handle.shared.waker.register(cx.waker());
        this.step(cx)
    }
}
impl<Req, Resp, C, F, Fut: Future<Output = ()>> fmt::Debug for Serving<Req, Resp, C, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving")
            .field("open_calls", &self.answers.len())
            .field("stopping", &self.requests.is_none())
            .finish_non_exhaustive()
    }
}

/// Where and how one request's outcome is published.
struct Answer<C> {
    client: Arc<Client>,
    reply: Subject,
    codec: C,
    shared: Arc<Shared>,
}

impl<C: Codec> Answer<C> {
    async fn publish(self, headers: Option<HeaderMap>, payload: Bytes) {
        let sent = match headers {
            Some(headers) => {
                self.client
                    .publish_with_headers(self.reply, headers, payload)
                    .await
            }
            None => self.client.publish(self.reply, payload).await,
        };
        if sent.is_err() {
            self.shared.publish_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One request as a local call, raced against its cancel message; publishes the outcome.
async fn answer<Req, Resp, C: Codec>(
    to: Answer<C>,
    caller: rsvp_tokio::Caller<Req, Resp>,
    req: Req,
    deadline: Instant,
    cancelled: Option<oneshot::Receiver<()>>,
    id: Option<Arc<str>>,
) -> Option<Arc<str>>
where
    Resp: Serialize,
{
    // In a block of its own, so that a cancelled call is dropped (and its responder sees
    // `is_cancelled`) before anything is published.
    let outcome = {
        let call = pin!(caller.call_deadline(req, deadline));
        let cancelled = pin!(async move {
            // A sender dropped without sending is a call id reused by a later request.
            let cancelled = match cancelled {
                Some(rx) => rx.await.is_ok(),
                None => false,
            };
            if !cancelled {
                std::future::pending::<()>().await;
            }
        });
        match select(call, cancelled).await {
            Either::Left((outcome, _)) => Some(outcome),
            Either::Right(((), _)) => None,
        }
    };
    let (status, why) = match outcome {
        Some(Ok(resp)) => match to.codec.encode(&resp) {
            Ok(payload) => {
                to.publish(None, payload).await;
                return id;
            }
            Err(e) => (Status::Lost, format!("the reply could not be encoded: {e}")),
        },
        Some(Err(CallError::Lost)) => (
            Status::Lost,
            "the handler dropped its responder, or panicked, without replying".to_owned(),
        ),
        Some(Err(CallError::Timeout)) => (
            Status::Timeout,
            "the deadline passed before the handler replied".to_owned(),
        ),
        Some(Err(CallError::Closed)) => {
            (Status::Closed, "the responder is shutting down".to_owned())
        }
        None => (
            Status::Cancelled,
            "the caller cancelled the call".to_owned(),
        ),
    };
    to.publish(Some(status.headers(&why)), Bytes::new()).await;
    id
}
