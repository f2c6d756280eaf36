//! The contenders: rsvp in both flavours, its peers, and two hand-written references.
//!
//! Each is a request queue bounded to 64 and a responder that doubles a `u64`, handling one
//! request at a time, so what is measured is the mechanism: queue, wake-ups, reply slot,
//! allocation. Every caller task gets its own client (the peers that need a per-requester
//! reply slot, embassy and the floors, get it there).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use futures_util::task::AtomicWaker;

/// The queue bound of every contender.
pub(crate) const CAP: usize = 64;

/// A contender whose handles stay on one thread.
pub(crate) trait Local: 'static {
    /// Its name in the tables.
    const NAME: &'static str;
    /// One caller's handle.
    type Client: 'static;
    /// The responder's handle.
    type Server: 'static;
    /// A channel with `callers` clients.
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server);
    /// One round trip.
    fn call(c: &mut Self::Client, x: u64) -> impl Future<Output = u64>;
    /// Answers `total` requests (or until every client is gone), then returns.
    fn serve(s: Self::Server, total: u64) -> impl Future<Output = ()> + 'static;
}

/// A contender whose handles and futures may move between threads.
pub(crate) trait Shared: 'static {
    /// Its name in the tables.
    const NAME: &'static str;
    /// One caller's handle.
    type Client: Send + 'static;
    /// The responder's handle.
    type Server: Send + 'static;
    /// A channel with `callers` clients.
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server);
    /// One round trip.
    fn call(c: &mut Self::Client, x: u64) -> impl Future<Output = u64> + Send;
    /// Answers `total` requests (or until every client is gone), then returns.
    fn serve(s: Self::Server, total: u64) -> impl Future<Output = ()> + Send + 'static;
}

impl<T: Shared> Local for T {
    const NAME: &'static str = <T as Shared>::NAME;
    type Client = T::Client;
    type Server = T::Server;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        <T as Shared>::pair(callers)
    }
    fn call(c: &mut Self::Client, x: u64) -> impl Future<Output = u64> {
        <T as Shared>::call(c, x)
    }
    fn serve(s: Self::Server, total: u64) -> impl Future<Output = ()> + 'static {
        <T as Shared>::serve(s, total)
    }
}

/// Stores `waker` in `slot` unless the one there wakes the same task (no clone then).
pub(crate) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

// ---------------------------------------------------------------------------------------
// rsvp

type LocalRpc =
    rsvp::Rpc<u64, u64, CAP, rsvp::rpc::With<rsvp::lock::LocalMutex, rsvp::time::NoClock>>;
/// The thread-safe flavour as the adapters make it: the request queue behind a lock of
/// its own.
type SyncRpc = rsvp::Rpc<
    u64,
    u64,
    CAP,
    rsvp::rpc::With<
        rsvp::lock::StdMutex,
        rsvp::time::NoClock,
        rsvp::queue::Queue<rsvp::lock::StdMutex, rsvp::queue::Envelope<u64>, CAP>,
    >,
>;

/// rsvp, single-thread flavour (`LocalMutex`: no atomics), in an `Rc`.
pub(crate) struct RsvpLocal;

impl Local for RsvpLocal {
    const NAME: &'static str = "rsvp-local";
    type Client = rsvp::Caller<Rc<LocalRpc>>;
    type Server = rsvp::Server<Rc<LocalRpc>>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let (caller, server) = rsvp::Rpc::split(Rc::new(LocalRpc::new(rsvp::time::NoClock)));
        (vec![caller; callers], server)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        c.call(x).await.expect("a reply")
    }
    async fn serve(s: Self::Server, total: u64) {
        for _ in 0..total {
            let (x, responder) = s.recv().await.expect("a request");
            responder.reply(x * 2).expect("a waiting caller");
        }
    }
}

/// rsvp, thread-safe flavour (`StdMutex`), in an `Arc`.
pub(crate) struct RsvpSync;

impl Shared for RsvpSync {
    const NAME: &'static str = "rsvp-sync";
    type Client = rsvp::Caller<Arc<SyncRpc>>;
    type Server = rsvp::Server<Arc<SyncRpc>>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let (caller, server) = rsvp::Rpc::split(Arc::new(SyncRpc::new(rsvp::time::NoClock)));
        (vec![caller; callers], server)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        c.call(x).await.expect("a reply")
    }
    async fn serve(s: Self::Server, total: u64) {
        for _ in 0..total {
            let (x, responder) = s.recv().await.expect("a request");
            responder.reply(x * 2).expect("a waiting caller");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The hand-written floors

pub(crate) struct FloorSlot {
    value: Cell<Option<u64>>,
    waker: RefCell<Option<Waker>>,
}

pub(crate) struct FloorShared {
    ring: RefCell<VecDeque<(u64, usize)>>,
    server: RefCell<Option<Waker>>,
    room: RefCell<Vec<Waker>>,
    slots: Box<[FloorSlot]>,
}

/// The single-thread floor: a preallocated ring, a per-requester reply slot with a stored
/// waker, `will_wake` re-registration, `wake_by_ref`. No allocation, atomic, lock or
/// refcount per round trip.
pub(crate) struct Floor;

impl Local for Floor {
    const NAME: &'static str = "floor";
    type Client = (Rc<FloorShared>, usize);
    type Server = Rc<FloorShared>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Rc::new(FloorShared {
            ring: RefCell::new(VecDeque::with_capacity(CAP)),
            server: RefCell::new(None),
            room: RefCell::new(Vec::new()),
            slots: (0..callers)
                .map(|_| FloorSlot {
                    value: Cell::new(None),
                    waker: RefCell::new(None),
                })
                .collect(),
        });
        ((0..callers).map(|i| (shared.clone(), i)).collect(), shared)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let (shared, index) = (&*c.0, c.1);
        poll_fn(|cx| {
            let mut ring = shared.ring.borrow_mut();
            if ring.len() < CAP {
                ring.push_back((x, index));
                if let Some(w) = &*shared.server.borrow() {
                    w.wake_by_ref();
                }
                Poll::Ready(())
            } else {
                shared.room.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let slot = &shared.slots[index];
        poll_fn(|cx| match slot.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                register(&mut slot.waker.borrow_mut(), cx.waker());
                Poll::Pending
            }
        })
        .await
    }
    async fn serve(s: Self::Server, total: u64) {
        for _ in 0..total {
            let (x, index) = poll_fn(|cx| {
                let next = s.ring.borrow_mut().pop_front();
                match next {
                    Some(item) => {
                        s.room.borrow_mut().drain(..).for_each(Waker::wake);
                        Poll::Ready(item)
                    }
                    None => {
                        register(&mut s.server.borrow_mut(), cx.waker());
                        Poll::Pending
                    }
                }
            })
            .await;
            let slot = &s.slots[index];
            slot.value.set(Some(x * 2));
            if let Some(w) = &*slot.waker.borrow() {
                w.wake_by_ref();
            }
        }
    }
}

pub(crate) struct SyncSlot {
    ready: AtomicBool,
    value: AtomicU64,
    waker: AtomicWaker,
}

pub(crate) struct FloorSyncShared {
    ring: Mutex<VecDeque<(u64, usize)>>,
    server: AtomicWaker,
    room: Mutex<Vec<Waker>>,
    slots: Box<[SyncSlot]>,
}

/// The same design made thread-safe: a `Mutex` ring, an atomic slot, `AtomicWaker`. A plain
/// thread-safe reference, not a proven lower bound.
pub(crate) struct FloorSync;

impl Shared for FloorSync {
    const NAME: &'static str = "floor-sync";
    type Client = (Arc<FloorSyncShared>, usize);
    type Server = Arc<FloorSyncShared>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Arc::new(FloorSyncShared {
            ring: Mutex::new(VecDeque::with_capacity(CAP)),
            server: AtomicWaker::new(),
            room: Mutex::new(Vec::new()),
            slots: (0..callers)
                .map(|_| SyncSlot {
                    ready: AtomicBool::new(false),
                    value: AtomicU64::new(0),
                    waker: AtomicWaker::new(),
                })
                .collect(),
        });
        ((0..callers).map(|i| (shared.clone(), i)).collect(), shared)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let (shared, index) = (&*c.0, c.1);
        poll_fn(|cx| {
            let mut ring = shared.ring.lock().unwrap();
            if ring.len() < CAP {
                ring.push_back((x, index));
                drop(ring);
                shared.server.wake();
                Poll::Ready(())
            } else {
                shared.room.lock().unwrap().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let slot = &shared.slots[index];
        poll_fn(|cx| {
            if slot.ready.swap(false, Ordering::Acquire) {
                return Poll::Ready(slot.value.load(Ordering::Relaxed));
            }
            slot.waker.register(cx.waker());
            if slot.ready.swap(false, Ordering::Acquire) {
                return Poll::Ready(slot.value.load(Ordering::Relaxed));
            }
            Poll::Pending
        })
        .await
    }
    async fn serve(s: Self::Server, total: u64) {
        for _ in 0..total {
            let (x, index) = poll_fn(|cx| {
                let pop = |s: &FloorSyncShared| s.ring.lock().unwrap().pop_front();
                let item = match pop(&s) {
                    Some(item) => item,
                    None => {
                        s.server.register(cx.waker());
                        match pop(&s) {
                            Some(item) => item,
                            None => return Poll::Pending,
                        }
                    }
                };
                let room = std::mem::take(&mut *s.room.lock().unwrap());
                room.into_iter().for_each(Waker::wake);
                Poll::Ready(item)
            })
            .await;
            let slot = &s.slots[index];
            slot.value.store(x * 2, Ordering::Relaxed);
            slot.ready.store(true, Ordering::Release);
            slot.waker.wake();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Peers: a queue plus a reply channel per request

/// futures-channel bounded mpsc + oneshot: the straight translation of the Go seed.
pub(crate) struct FuturesMpsc;

type FutReq = (u64, futures_channel::oneshot::Sender<u64>);

impl Shared for FuturesMpsc {
    const NAME: &'static str = "futures-mpsc+oneshot";
    type Client = futures_channel::mpsc::Sender<FutReq>;
    type Server = futures_channel::mpsc::Receiver<FutReq>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        // Its capacity is `buffer + number of senders`.
        let (tx, rx) = futures_channel::mpsc::channel(CAP);
        (vec![tx; callers], rx)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        use futures_util::SinkExt;
        let (tx, rx) = futures_channel::oneshot::channel();
        c.send((x, tx)).await.expect("an open queue");
        rx.await.expect("a reply")
    }
    fn serve(mut s: Self::Server, _: u64) -> impl Future<Output = ()> + Send + 'static {
        use futures_util::StreamExt;
        async move {
            while let Some((x, reply)) = s.next().await {
                let _ = reply.send(x * 2);
            }
        }
    }
}

/// tokio mpsc + oneshot.
pub(crate) struct TokioMpsc;

type TokioReq = (u64, tokio::sync::oneshot::Sender<u64>);

impl Shared for TokioMpsc {
    const NAME: &'static str = "tokio-mpsc+oneshot";
    type Client = tokio::sync::mpsc::Sender<TokioReq>;
    type Server = tokio::sync::mpsc::Receiver<TokioReq>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let (tx, rx) = tokio::sync::mpsc::channel(CAP);
        (vec![tx; callers], rx)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        c.send((x, tx)).await.expect("an open queue");
        rx.await.expect("a reply")
    }
    async fn serve(mut s: Self::Server, _: u64) {
        while let Some((x, reply)) = s.recv().await {
            let _ = reply.send(x * 2);
        }
    }
}

/// The doubling service behind tower's `Buffer`.
#[derive(Clone, Copy)]
pub(crate) struct Doubler;

impl tower::Service<u64> for Doubler {
    type Response = u64;
    type Error = Infallible;
    type Future = std::future::Ready<Result<u64, Infallible>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, x: u64) -> Self::Future {
        std::future::ready(Ok(x * 2))
    }
}

/// tower's `Buffer` over a service (tokio mpsc + semaphore + oneshot inside). Its worker is
/// a plain future, so it runs on every executor.
pub(crate) struct TowerBuffer;

impl Shared for TowerBuffer {
    const NAME: &'static str = "tower-buffer";
    type Client = tower::buffer::Buffer<u64, <Doubler as tower::Service<u64>>::Future>;
    /// The worker, boxed once: its type is not nameable.
    type Server = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let (buffer, worker) = tower::buffer::Buffer::pair(Doubler, CAP);
        (vec![buffer; callers], Box::pin(worker))
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        use tower::{Service, ServiceExt};
        c.ready().await.expect("a live worker");
        c.call(x).await.expect("a reply")
    }
    fn serve(s: Self::Server, _: u64) -> impl Future<Output = ()> + Send + 'static {
        s
    }
}

/// async-channel + the `oneshot` crate.
pub(crate) struct AsyncChannel;

type AcReq = (u64, oneshot::Sender<u64>);

impl Shared for AsyncChannel {
    const NAME: &'static str = "async-channel+oneshot";
    type Client = async_channel::Sender<AcReq>;
    type Server = async_channel::Receiver<AcReq>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let (tx, rx) = async_channel::bounded(CAP);
        (vec![tx; callers], rx)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let (tx, rx) = oneshot::channel();
        c.send((x, tx)).await.expect("an open queue");
        rx.await.expect("a reply")
    }
    async fn serve(s: Self::Server, _: u64) {
        while let Ok((x, reply)) = s.recv().await {
            let _ = reply.send(x * 2);
        }
    }
}

/// flume, with a flume `bounded(1)` for each reply.
pub(crate) struct Flume;

type FlumeReq = (u64, flume::Sender<u64>);

impl Shared for Flume {
    const NAME: &'static str = "flume+flume";
    type Client = flume::Sender<FlumeReq>;
    type Server = flume::Receiver<FlumeReq>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let (tx, rx) = flume::bounded(CAP);
        (vec![tx; callers], rx)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let (tx, rx) = flume::bounded(1);
        c.send_async((x, tx)).await.expect("an open queue");
        rx.recv_async().await.expect("a reply")
    }
    async fn serve(s: Self::Server, _: u64) {
        while let Ok((x, reply)) = s.recv_async().await {
            let _ = reply.send(x * 2);
        }
    }
}

// ---------------------------------------------------------------------------------------
// embassy-sync: Channel + one Signal per requester (no timeouts, errors or cancellation)

pub(crate) struct Embassy<M: embassy_sync::blocking_mutex::raw::RawMutex> {
    channel: embassy_sync::channel::Channel<M, (u64, usize), CAP>,
    signals: Box<[embassy_sync::signal::Signal<M, u64>]>,
}

impl<M: embassy_sync::blocking_mutex::raw::RawMutex> Embassy<M> {
    fn new(callers: usize) -> Self {
        Self {
            channel: embassy_sync::channel::Channel::new(),
            signals: (0..callers)
                .map(|_| embassy_sync::signal::Signal::new())
                .collect(),
        }
    }
    async fn call(&self, index: usize, x: u64) -> u64 {
        self.channel.send((x, index)).await;
        self.signals[index].wait().await
    }
    async fn serve(&self, total: u64) {
        for _ in 0..total {
            let (x, index) = self.channel.receive().await;
            self.signals[index].signal(x * 2);
        }
    }
}

type NoopM = embassy_sync::blocking_mutex::raw::NoopRawMutex;
type CsM = embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

/// embassy-sync with `NoopRawMutex`: single-thread.
pub(crate) struct EmbassyNoop;

impl Local for EmbassyNoop {
    const NAME: &'static str = "embassy-noop";
    type Client = (Rc<Embassy<NoopM>>, usize);
    type Server = Rc<Embassy<NoopM>>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Rc::new(Embassy::new(callers));
        ((0..callers).map(|i| (shared.clone(), i)).collect(), shared)
    }
    fn call(c: &mut Self::Client, x: u64) -> impl Future<Output = u64> {
        c.0.call(c.1, x)
    }
    async fn serve(s: Self::Server, total: u64) {
        s.serve(total).await
    }
}

/// embassy-sync with `CriticalSectionRawMutex` (critical-section's std implementation: one
/// process-wide mutex).
pub(crate) struct EmbassyCs;

impl Shared for EmbassyCs {
    const NAME: &'static str = "embassy-cs";
    type Client = (Arc<Embassy<CsM>>, usize);
    type Server = Arc<Embassy<CsM>>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Arc::new(Embassy::new(callers));
        ((0..callers).map(|i| (shared.clone(), i)).collect(), shared)
    }
    fn call(c: &mut Self::Client, x: u64) -> impl Future<Output = u64> + Send {
        c.0.call(c.1, x)
    }
    async fn serve(s: Self::Server, total: u64) {
        s.serve(total).await
    }
}
