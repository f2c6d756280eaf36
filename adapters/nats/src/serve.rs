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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{poll_fn, Future};
use std::num::NonZeroUsize;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_nats::{Client, Message, Subject, Subscriber};
use bytes::Bytes;
use futures_util::future::{select, BoxFuture, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use futures_util::FutureExt;
use rsvp::stats::StatsSnapshot;
use rsvp::{CallError, CloseMode};
use rsvp_tokio::TokioTimer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::coop;

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
    #[cfg(feature = "micro")]
    micro: Option<(String, String)>,
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
            #[cfg(feature = "micro")]
            micro: None,
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

    /// The plain queue subscription to the subject.
    async fn subscribe(&self) -> Result<Intake, Error> {
        self.client
            .queue_subscribe(self.subject.clone(), self.queue_group.clone())
            .await
            .map(Intake::Plain)
            .map_err(|e| Error::Nats(e.to_string()))
    }

    /// Registers the service as a NATS service (the "micro" protocol, feature `micro`)
    /// named `name` (letters, digits, `-`, `_`) at `version` (semver): NATS tooling finds
    /// it on `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`. Its endpoint is the subject, in the
    /// queue group; its stats count requests, errors (every status reply) and processing
    /// time, and their `data` holds the [`ServeStats`] counts.
    #[cfg(feature = "micro")]
    pub fn register(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.micro = Some((name.into(), version.into()));
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
    /// the server has both subscriptions (a message to itself has come back through it), and
    /// returns the future that serves them with `handler`: it gets each request and its
    /// [`Responder`], as rsvp's `Server::serve` does, with at most `concurrency` handlers in
    /// progress. A handler that drops its responder or panics gives its caller `Lost`, and
    /// serving goes on.
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
        let cancels = self
            .client
            .subscribe(wire::cancel_subject(&self.subject))
            .await
            .map_err(subscribe_error)?;
        let shared = Arc::new(Shared::default());
        let rpc = Arc::new(Endpoint::<Req, Resp>::new(TokioTimer));
        let endpoint = rpc.clone();
        let handle = ServiceHandle {
            shared,
            endpoint_stats: Arc::new(move || endpoint.stats()),
        };
        #[cfg(feature = "micro")]
        let (requests, micro) = match &self.micro {
            Some((name, version)) => {
                let (requests, micro) = micro::start(&self, name, version, handle.clone()).await?;
                (requests, Some(micro))
            }
            None => (self.subscribe().await?, None),
        };
        #[cfg(not(feature = "micro"))]
        let requests = self.subscribe().await?;
        // The server has the subscriptions once a message of ours has come back through it.
        round_trip(&self.client).await?;
        let (caller, server) = rsvp::Rpc::split(rpc.clone());
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
            overtaken: HashSet::new(),
            waker: Waker::from(handle.shared.clone()),
            handle,
            #[cfg(feature = "micro")]
            micro,
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

/// How long [`Service::serve`] waits for the server to confirm its subscriptions.
const SUBSCRIBED_WAIT: Duration = Duration::from_secs(10);

/// Sends a message to this client through the server and waits for it: the server has
/// then processed everything the client sent before (a `flush` only empties the socket).
///
/// Bounded as a whole, the subscribe and the publish included: each waits for room in the
/// client's command queue, which is not read while the client reconnects, so during an
/// outage they would wait for as long as it lasts.
async fn round_trip(client: &Client) -> Result<(), Error> {
    let echo = async {
        let inbox = client.new_inbox();
        let mut echo = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| Error::Nats(e.to_string()))?;
        client
            .publish(inbox, Bytes::new())
            .await
            .map_err(|_| Error::Disconnected)?;
        echo.next().await.map(drop).ok_or(Error::Disconnected)
    };
    tokio::time::timeout(SUBSCRIBED_WAIT, echo)
        .await
        .unwrap_or(Err(Error::Disconnected))
}

/// The longest an outcome waits for room in the client's command queue before it is
/// dropped (and counted in [`ServeStats::publish_failed`]).
///
/// Bounded rather than awaited: async-nats does not read its queue while it reconnects,
/// so during an outage with the queue full a publish would wait for as long as the outage
/// lasts, holding its call's share of the capacity and keeping [`Serving`] from ending
/// after [`ServiceHandle::stop`]. Not dropped at once either (as the caller's cancel is):
/// a queue that is full for a moment under load empties in microseconds, and a reply
/// dropped then would turn a load peak into `Timeout`s. A second is far beyond that, and a
/// reply that could not go for a second is one its caller is unlikely to still wait for;
/// if it does, it ends at its deadline, as when a reply is lost in an outage.
const PUBLISH_WAIT: Duration = Duration::from_secs(1);

/// Tries `publish` once, at once: whether the client took the message, or `None` when its
/// queue had no room (then nothing was queued: the message went with the future).
///
/// Outside tokio's cooperative budget, which the serving task often has used up (it polls
/// many answers). Synchronous, so that the publish future lives on the stack, not in the
/// answer's future (which is boxed for each call).
fn publish_now<E>(publish: impl Future<Output = Result<(), E>>) -> Option<bool> {
    let publish = pin!(publish);
    coop::unconstrained(publish)
        .now_or_never()
        .map(|sent| sent.is_ok())
}

/// Awaits `publish` at most [`PUBLISH_WAIT`]; whether the message was handed to the client.
/// The slow path, once [`publish_now`] found the queue full: boxed by its callers, so
/// that its timer is not part of every answer's future.
async fn publish_bounded<E>(publish: impl Future<Output = Result<(), E>>) -> bool {
    let mut publish = pin!(publish);
    // Nearly always the queue has room: then no timer is set up.
    if let Some(sent) = coop::unconstrained(publish.as_mut()).now_or_never() {
        return sent.is_ok();
    }
    matches!(
        tokio::time::timeout(PUBLISH_WAIT, publish).await,
        Ok(Ok(()))
    )
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
    /// The serving task's waker, registered at each poll.
    waker: AtomicWaker,
    /// [`Serving`] is being polled: a wake now only sets `woken`, and the poll goes round
    /// once more, rather than have the runtime schedule the task again (and wake an idle
    /// worker thread to run it) for what this very poll can do.
    polling: AtomicBool,
    /// Something was woken while `polling`.
    woken: AtomicBool,
}

/// The waker [`Serving`] gives everything it polls (the subscriptions, the answers, the
/// handlers): it wakes the serving task only when it is not being polled.
impl std::task::Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst, paired with `Serving::poll`: either it sees `woken`, or this sees that it
        // is no longer polling and wakes the task.
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}

/// How many times one poll of [`Serving`] goes round for wakes that came during it,
/// before it leaves the rest to the runtime (as a task that yields).
const ROUNDS_PER_POLL: usize = 4;

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
    /// Nothing on that path waits for the connection: an outcome the client cannot take
    /// within a second (its queue is full during an outage) is dropped and counted in
    /// [`ServeStats::publish_failed`].
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
    /// Replies (of any kind) the client could not publish: the connection was closed, or
    /// the client's queue stayed full for a second (as during an outage, when it is not
    /// read); such a reply is dropped, and its caller ends at its deadline.
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
    requests: Option<Intake>,
    cancels: Option<Subscriber>,
    caller: Option<rsvp_tokio::Caller<Req, Resp>>,
    rpc: Arc<Endpoint<Req, Resp>>,
    serve: rsvp::rpc::ServeFuture<Arc<Endpoint<Req, Resp>>, F, Fut>,
    served: bool,
    /// Each resolves to the id of its call, to forget its cancel sender.
    answers: FuturesUnordered<BoxFuture<'static, Option<CallKey>>>,
    /// Cancel senders of the calls in progress, by call id.
    pending: HashMap<CallKey, oneshot::Sender<()>>,
    /// Cancels read before their request was taken: the request is already in the intake
    /// (NATS keeps one publisher's messages in order to one subscriber connection, and the
    /// request was published first), or it went to another responder. Forgotten once the
    /// intake is empty: by then every request they could name has been taken.
    overtaken: HashSet<CallKey>,
    handle: ServiceHandle,
    /// Wakes the serving task, or makes its poll go round again: see [`Shared::polling`].
    waker: Waker,
    /// The NATS service registration, until serving stops.
    #[cfg(feature = "micro")]
    micro: Option<async_nats::service::Service>,
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

    /// One round over every part; `task` is the serving task's own waker.
    fn step(&mut self, cx: &mut Context<'_>, task: &Waker) -> Poll<ServeStats> {
        let this = self;
        if this.requests.is_some() && this.handle.shared.stop.load(Ordering::Acquire) {
            this.begin_stop();
        }
        // Cancels first: a call cancelled in this batch is dropped before it is answered.
        while let Some(cancels) = &mut this.cancels {
            match cancels.poll_next_unpin(cx) {
                Poll::Ready(Some(message)) => {
                    let id = std::str::from_utf8(&message.payload).unwrap_or_default();
                    let key = CallKey::new(id);
                    if let Some(cancel) = this.pending.remove(&key) {
                        let _ = cancel.send(());
                    } else if this.requests.is_some() && !id.is_empty() {
                        this.overtaken.insert(key);
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
                task.wake_by_ref();
                break;
            }
            // Outside tokio's budget, so that `Pending` means the intake is empty (when the
            // overtaken cancels are forgotten) and not that this task has used its budget;
            // `INTAKE_BATCH` bounds what one step takes.
            let next = coop::unconstrained(poll_fn(|cx| requests.poll_next(cx)));
            match pin!(next).poll(cx) {
                Poll::Ready(Some(incoming)) => {
                    intake -= 1;
                    this.take(incoming);
                }
                Poll::Ready(None) => this.begin_stop(),
                Poll::Pending => {
                    this.overtaken.clear();
                    break;
                }
            }
        }
        this.poll_answers(cx);
        if !this.served {
            this.served = Pin::new(&mut this.serve).poll(cx).is_ready();
            // The handlers just run may have replied: publish their outcomes in this poll
            // rather than in the next (only the answers woken are polled).
            this.poll_answers(cx);
        }
        if this.requests.is_none() && this.served && this.answers.is_empty() {
            this.cancels = None;
            return Poll::Ready(this.handle.stats());
        }
        Poll::Pending
    }

    /// Polls the answers that were woken; forgets the cancels of those that ended.
    fn poll_answers(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some(id)) = self.answers.poll_next_unpin(cx) {
            if let Some(id) = id {
                self.pending.remove(&id);
            }
        }
    }

    fn take(&mut self, incoming: Incoming) {
        let shared = &self.handle.shared;
        shared.received.fetch_add(1, Ordering::Relaxed);
        let message = incoming.message();
        let Some(subject) = message.reply.clone() else {
            shared.unanswerable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let read = self.read(message);
        // The header, which a foreign client may send, comes first.
        let id = match wire::call_id_header(message.headers.as_ref()) {
            Some(id) => Some(CallKey::new(id)),
            None => wire::reply_call_id(&subject).map(CallKey::Bits),
        };
        let reply = match incoming {
            Incoming::Plain(_) => ReplyTo::Subject(subject),
            #[cfg(feature = "micro")]
            Incoming::Micro(request) => ReplyTo::Micro(request),
        };
        let (req, budget) = match read {
            Ok(read) => read,
            Err(why) => return self.refuse(reply, Status::Rejected, why),
        };
        if self.answers.len() >= self.capacity {
            let why = format!("{} calls in progress", self.capacity);
            return self.refuse(reply, Status::Full, why);
        }
        let (Some(caller), Some(deadline)) = (&self.caller, Instant::now().checked_add(budget))
        else {
            let why = "the responder is shutting down".to_owned();
            return self.refuse(reply, Status::Closed, why);
        };
        let cancelled = id.clone().map(|id| {
            let (tx, rx) = oneshot::channel();
            // Checked for emptiness first: a lookup hashes the key even in an empty set.
            if !self.overtaken.is_empty() && self.overtaken.remove(&id) {
                // Its cancel came first: the call is dropped before a handler takes it.
                let _ = tx.send(());
            } else {
                self.pending.insert(id, tx);
            }
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

    /// The request and its budget, or why they cannot be read.
    fn read(&self, message: &Message) -> Result<(Req, Duration), String> {
        let budget = match wire::budget(message.headers.as_ref())? {
            Some(budget) => budget,
            None => self.default_budget.ok_or_else(|| {
                format!(
                    "missing {} header (the caller's remaining budget in microseconds)",
                    wire::BUDGET_HEADER
                )
            })?,
        };
        match self.codec.decode(&message.payload) {
            Ok(req) => Ok((req, budget)),
            Err(e) => Err(format!("undecodable request: {e}")),
        }
    }

    fn refuse(&mut self, reply: ReplyTo, status: Status, why: String) {
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
        self.answers.push(Box::pin(async move {
            answer.publish(Some((status, why)), Bytes::new()).await;
            None
        }));
    }

    /// No new requests: unsubscribe, and let the local endpoint finish what it has.
    fn begin_stop(&mut self) {
        self.requests = None;
        self.overtaken = HashSet::new();
        #[cfg(feature = "micro")]
        if let Some(micro) = self.micro.take() {
            // `stop` only signals (it never waits); the unregistered endpoint ends its stream.
            let _ = micro.stop().now_or_never();
        }
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
        let shared = this.handle.shared.clone();
        shared.waker.register(cx.waker());
        let waker = this.waker.clone();
        let mut inner = Context::from_waker(&waker);
        for _ in 0..ROUNDS_PER_POLL {
            // A wake before `woken` is cleared is for a change this round will see.
            shared.polling.store(true, Ordering::SeqCst);
            shared.woken.store(false, Ordering::SeqCst);
            let step = this.step(&mut inner, cx.waker());
            shared.polling.store(false, Ordering::SeqCst);
            if step.is_ready() || !shared.woken.swap(false, Ordering::SeqCst) {
                return step;
            }
        }
        // Still woken: go round again after the other tasks.
        cx.waker().wake_by_ref();
        Poll::Pending
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

/// A call's id as the responder keeps it: an id in rsvp-nats' own form (32 lowercase hex
/// digits) as its 128 bits, with no allocation and a short hash; any other id (a foreign
/// client's) as its text. Two ids are the same key exactly when they are the same text.
#[derive(Clone, PartialEq, Eq, Hash)]
enum CallKey {
    Bits(u128),
    Text(Box<str>),
}

impl CallKey {
    fn new(id: &str) -> Self {
        match wire::call_id_bits(id) {
            Some(bits) => Self::Bits(bits),
            None => Self::Text(id.into()),
        }
    }
}

/// Where one request's outcome goes: its reply subject, or the NATS service request it
/// came as (whose `respond` keeps the service's stats).
enum ReplyTo {
    Subject(Subject),
    #[cfg(feature = "micro")]
    Micro(Box<async_nats::service::Request>),
}

/// Where and how one request's outcome is published.
struct Answer<C> {
    client: Arc<Client>,
    reply: ReplyTo,
    codec: C,
    shared: Arc<Shared>,
}

impl<C: Codec> Answer<C> {
    /// Publishes a reply: a value, or a status and why. Waits at most [`PUBLISH_WAIT`] for
    /// the client to take it.
    async fn publish(self, status: Option<(Status, String)>, payload: Bytes) {
        let client = self.client;
        let sent = match (self.reply, status) {
            (ReplyTo::Subject(to), None) => {
                match publish_now(client.publish(to.clone(), payload.clone())) {
                    Some(sent) => sent,
                    None => {
                        Box::pin(async move { publish_bounded(client.publish(to, payload)).await })
                            .await
                    }
                }
            }
            (ReplyTo::Subject(to), Some((status, why))) => {
                let headers = status.headers(&why);
                let now = client.publish_with_headers(to.clone(), headers.clone(), payload.clone());
                match publish_now(now) {
                    Some(sent) => sent,
                    None => {
                        let publish = client.publish_with_headers(to, headers, payload);
                        Box::pin(async move { publish_bounded(publish).await }).await
                    }
                }
            }
            // Boxed whole: `respond` counts an error before it publishes, so it is not
            // tried twice.
            #[cfg(feature = "micro")]
            (ReplyTo::Micro(request), None) => {
                Box::pin(async move { publish_bounded(request.respond(Ok(payload))).await }).await
            }
            #[cfg(feature = "micro")]
            (ReplyTo::Micro(request), Some((status, why))) => {
                let headers = status.headers(&why);
                let error = async_nats::service::error::Error {
                    status: why,
                    code: status.code().into(),
                };
                Box::pin(async move {
                    publish_bounded(request.respond_with_headers(Err(error), headers)).await
                })
                .await
            }
        };
        if !sent {
            self.shared.publish_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where request messages come from: a queue subscription, or a NATS service endpoint.
enum Intake {
    Plain(Subscriber),
    #[cfg(feature = "micro")]
    Micro(Box<async_nats::service::endpoint::Endpoint>),
}

impl Intake {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        match self {
            Self::Plain(s) => s.poll_next_unpin(cx).map(|m| m.map(Incoming::Plain)),
            #[cfg(feature = "micro")]
            Self::Micro(e) => e
                .poll_next_unpin(cx)
                .map(|r| r.map(|r| Incoming::Micro(Box::new(r)))),
        }
    }
}

/// One request message, as its intake gave it.
enum Incoming {
    Plain(Message),
    #[cfg(feature = "micro")]
    Micro(Box<async_nats::service::Request>),
}

impl Incoming {
    fn message(&self) -> &Message {
        match self {
            Self::Plain(message) => message,
            #[cfg(feature = "micro")]
            Self::Micro(request) => &request.message,
        }
    }
}

#[cfg(feature = "micro")]
mod micro {
    use async_nats::service::ServiceExt;

    use super::{Intake, Service, ServiceHandle};
    use crate::codec::Codec;
    use crate::Error;

    /// Registers `service` as a NATS service with one endpoint, its subject.
    pub(super) async fn start<Req, Resp, C: Codec>(
        service: &Service<Req, Resp, C>,
        name: &str,
        version: &str,
        handle: ServiceHandle,
    ) -> Result<(Intake, async_nats::service::Service), Error> {
        let nats_error = |e: async_nats::Error| Error::Nats(e.to_string());
        let micro = service
            .client
            .service_builder()
            .description("an rsvp-nats service")
            .queue_group(&service.queue_group)
            .stats_handler(move |_endpoint, _stats| {
                let s = handle.stats();
                let e = s.endpoint;
                serde_json::json!({
                    "received": s.received,
                    "replied": e.replied,
                    "lost": e.lost,
                    "timeout": e.timeout,
                    "cancelled": e.cancelled,
                    "closed": e.closed,
                    "full": s.full,
                    "rejected": s.rejected,
                    "unanswerable": s.unanswerable,
                    "in_flight": e.in_flight,
                    "queued": e.queued,
                })
            })
            .start(name, version)
            .await
            .map_err(nats_error)?;
        let endpoint = micro
            .endpoint(service.subject.clone())
            .await
            .map_err(nats_error)?;
        Ok((Intake::Micro(Box::new(endpoint)), micro))
    }
}

/// One request as a local call, raced against its cancel message; publishes the outcome.
async fn answer<Req, Resp, C: Codec>(
    to: Answer<C>,
    caller: rsvp_tokio::Caller<Req, Resp>,
    req: Req,
    deadline: Instant,
    cancelled: Option<oneshot::Receiver<()>>,
    id: Option<CallKey>,
) -> Option<CallKey>
where
    Resp: Serialize,
{
    // In a block of its own, so that a cancelled call is dropped (and its responder sees
    // `is_cancelled`) before anything is published.
    let outcome = {
        let call = pin!(caller.call_deadline(req, deadline));
        // Outside tokio's budget: a cancel already sent (one that came before its request)
        // is seen in the poll that queues the call, before a handler can take it.
        let cancelled = pin!(coop::unconstrained(async move {
            // A sender dropped without sending is a call id reused by a later request.
            let cancelled = match cancelled {
                Some(rx) => rx.await.is_ok(),
                None => false,
            };
            if !cancelled {
                std::future::pending::<()>().await;
            }
        }));
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
    to.publish(Some((status, why)), Bytes::new()).await;
    id
}

#[cfg(test)]
mod tests {
    use super::CallKey;

    #[test]
    fn call_keys_are_equal_exactly_when_the_ids_are() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(CallKey::new(id) == CallKey::Bits(0x0123456789abcdef0123456789abcdef));
        assert!(CallKey::new(id) == CallKey::new(id));
        // Other spellings of the same number are other ids.
        for other in [
            "0123456789ABCDEF0123456789ABCDEF",
            "+123456789abcdef0123456789abcdef",
            "123456789abcdef0123456789abcdef",
            "00123456789abcdef0123456789abcdef",
        ] {
            assert!(
                CallKey::new(other) == CallKey::Text(other.into()),
                "{other}"
            );
            assert!(CallKey::new(other) != CallKey::new(id), "{other}");
        }
        assert!(CallKey::new("") == CallKey::Text("".into()));
    }
}
