//! No waker runs under a lock. An executor may poll a woken task inline, inside `wake`, and
//! that task may use the endpoint whose event woke it: such a waker must neither deadlock
//! (`StdMutex`) nor hit the single-thread flavour's re-entrancy check (`LocalMutex`), and it
//! must see the event that woke it already done. Nor is a waker dropped under a lock: the
//! last waker of a task may end the task, whose futures then use the endpoint.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use rsvp::lock::StdMutex;
use rsvp::rpc::With;
use rsvp::time::NoClock;
use rsvp::{CallError, Caller, CloseMode, Rpc, Server, TryCallError};
use rsvp_tests::Poller;

type Local = Rpc<u32, u32, 2, With<rsvp::lock::LocalMutex, NoClock>>;
type Shared = Rpc<u32, u32, 2, With<StdMutex, NoClock>>;
type SharedQueued = Rpc<
    u32,
    u32,
    2,
    With<StdMutex, NoClock, rsvp::queue::Queue<StdMutex, rsvp::queue::Envelope<u32>, 2>>,
>;

/// A waker that runs `f` when woken, as an executor polling inline would.
struct Inline<F>(F);

impl<F: Fn() + Send + Sync + 'static> Wake for Inline<F> {
    fn wake(self: Arc<Self>) {
        (self.0)();
    }
}

fn inline_waker(f: impl Fn() + Send + Sync + 'static) -> Waker {
    Waker::from(Arc::new(Inline(f)))
}

/// Polls `fut` once with `waker`, which it must wait on.
fn pending_on<F: Future + Unpin>(fut: &mut F, waker: &Waker) {
    let polled = std::pin::Pin::new(fut).poll(&mut Context::from_waker(waker));
    assert!(polled.is_pending());
}

/// What the inline wakers of the servers do: take a request and answer it.
fn answer_one<P>(server: &Server<P>)
where
    P: std::ops::Deref + Clone,
    P::Target: rsvp::rpc::Endpoint<Req = u32, Resp = u32>,
{
    if let Ok((req, responder)) = server.try_recv() {
        responder.reply(req * 10).unwrap();
    }
}

/// The single-thread endpoint and a server handle of it.
type LocalEnds = (Rc<Local>, Rc<Server<Rc<Local>>>);

thread_local! {
    /// The single-thread endpoint and a server handle, for wakers (which must be `Send`)
    /// to reach.
    static LOCAL: RefCell<Option<LocalEnds>> = const { RefCell::new(None) };
}

fn local() -> (Caller<Rc<Local>>, Rc<Server<Rc<Local>>>) {
    let rpc = Rc::new(Local::new(NoClock));
    let (caller, server) = Rpc::split(rpc.clone());
    let server = Rc::new(server);
    LOCAL.with(|l| *l.borrow_mut() = Some((rpc, server.clone())));
    (caller, server)
}

fn with_local<R>(f: impl FnOnce(&Rc<Local>, &Server<Rc<Local>>) -> R) -> R {
    let (rpc, server) = LOCAL.with(|l| l.borrow().clone().expect("the test's endpoint"));
    f(&rpc, &server)
}

#[test]
fn a_reply_wakes_a_caller_whose_waker_reads_the_endpoint() {
    let seen = Arc::new(Mutex::new(Vec::new()));

    let (caller, server) = local();
    let record = seen.clone();
    let waker = inline_waker(move || {
        record
            .lock()
            .unwrap()
            .push(with_local(|rpc, _| rpc.stats().replied));
    });
    let mut call = pin!(caller.call(1));
    pending_on(&mut call, &waker);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req + 1).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [1],
        "woken once, with the reply counted"
    );
    assert_eq!(Poller::new().ready(&mut call), Ok(2));

    let rpc = Arc::new(Shared::new(NoClock));
    let (caller, server) = Rpc::split(rpc.clone());
    let record = seen.clone();
    let waker = inline_waker(move || record.lock().unwrap().push(rpc.stats().replied));
    let mut call = pin!(caller.call(1));
    pending_on(&mut call, &waker);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req + 1).unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 1]);
    assert_eq!(Poller::new().ready(&mut call), Ok(2));
}

/// A server waiting for a request whose waker takes the request and replies, from inside
/// the caller's `try_call`.
fn served_inside_the_wake<Q>(rpc: Arc<Rpc<u32, u32, 2, With<StdMutex, NoClock, Q>>>)
where
    Q: rsvp::queue::Transport<u32, 2> + Send + Sync + 'static,
    Rpc<u32, u32, 2, With<StdMutex, NoClock, Q>>: Send + Sync,
{
    let (caller, server) = Rpc::split(rpc);
    let server = Arc::new(server);
    let waker = {
        let server = server.clone();
        inline_waker(move || answer_one(&server))
    };
    let mut recv = pin!(server.recv());
    pending_on(&mut recv, &waker);
    let mut call = pin!(caller.try_call(4).unwrap());
    assert_eq!(
        Poller::new().ready(&mut call),
        Ok(40),
        "answered inside the wake"
    );
    assert_eq!(server.stats().replied, 1);
}

#[test]
fn a_request_wakes_a_server_whose_waker_takes_it_and_replies() {
    served_inside_the_wake(Arc::new(Shared::new(NoClock)));
    served_inside_the_wake(Arc::new(SharedQueued::new(NoClock)));

    let (caller, server) = local();
    let waker = inline_waker(|| with_local(|_, server| answer_one(server)));
    let mut recv = pin!(server.recv());
    pending_on(&mut recv, &waker);
    let mut call = pin!(caller.try_call(4).unwrap());
    assert_eq!(Poller::new().ready(&mut call), Ok(40));
}

#[test]
fn a_shutdown_wakes_callers_whose_wakers_call_again() {
    let outcomes = Arc::new(Mutex::new(Vec::new()));

    let rpc = Arc::new(Shared::new(NoClock));
    let (caller, server) = Rpc::split(rpc.clone());
    let caller = Arc::new(caller);
    let waker = {
        let (caller, outcomes) = (caller.clone(), outcomes.clone());
        inline_waker(move || {
            let again = caller.try_call(9).map(drop);
            outcomes.lock().unwrap().push(again);
        })
    };
    let mut call = pin!(caller.call(1));
    pending_on(&mut call, &waker);
    assert_eq!(server.close(CloseMode::Fail), 1);
    assert_eq!(*outcomes.lock().unwrap(), [Err(TryCallError::Closed(9))]);
    assert_eq!(Poller::new().ready(&mut call), Err(CallError::Closed));
}

/// A waker whose task ends when its last waker is dropped, and whose ending runs `f`, as a
/// task that owns a handle of the endpoint would use it while being dropped.
struct EndsWith<F: Fn() + Send + Sync>(F);

impl<F: Fn() + Send + Sync> Wake for EndsWith<F> {
    fn wake(self: Arc<Self>) {}
}

impl<F: Fn() + Send + Sync> Drop for EndsWith<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A waker whose drop (the last one) runs `f`, and a count of those drops.
fn ending_waker(f: impl Fn() + Send + Sync + 'static) -> (Waker, Arc<Mutex<u32>>) {
    let ended = Arc::new(Mutex::new(0));
    let count = ended.clone();
    let waker = Waker::from(Arc::new(EndsWith(move || {
        f();
        *count.lock().unwrap() += 1;
    })));
    (waker, ended)
}

#[test]
fn a_replaced_waker_whose_drop_uses_the_endpoint_is_dropped_after_unlocking() {
    // The call moves to another task: the slot's waker is replaced, and the old one was
    // the last of its task.
    let (caller, server) = local();
    let (first, ended) = ending_waker(|| {
        with_local(|rpc, _| rpc.stats());
    });
    let mut call = pin!(caller.call(1));
    pending_on(&mut call, &first);
    drop(first);
    assert_eq!(*ended.lock().unwrap(), 0, "the slot holds the last waker");
    pending_on(&mut call, &Waker::noop().clone());
    assert_eq!(*ended.lock().unwrap(), 1, "dropped once replaced");
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req + 1).unwrap();
    assert_eq!(Poller::new().ready(&mut call), Ok(2));

    let rpc = Arc::new(Shared::new(NoClock));
    let (caller, server) = Rpc::split(rpc.clone());
    let (first, ended) = ending_waker(move || {
        rpc.stats();
    });
    let mut call = pin!(caller.call(1));
    pending_on(&mut call, &first);
    drop(first);
    pending_on(&mut call, &Waker::noop().clone());
    assert_eq!(*ended.lock().unwrap(), 1);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req + 1).unwrap();
    assert_eq!(Poller::new().ready(&mut call), Ok(2));
}

#[test]
fn a_slot_waiter_that_leaves_drops_its_waker_after_unlocking() {
    let rpc = Arc::new(Shared::new(NoClock));
    let (caller, _server) = Rpc::split(rpc.clone());
    let _held = [caller.try_call(1).unwrap(), caller.try_call(2).unwrap()];
    let (waiter, ended) = ending_waker(move || {
        rpc.stats();
    });
    let mut call = Box::pin(caller.call(3));
    pending_on(&mut call, &waiter);
    drop(waiter);
    assert_eq!(
        *ended.lock().unwrap(),
        0,
        "the list of slot waiters holds it"
    );
    drop(call);
    assert_eq!(*ended.lock().unwrap(), 1, "given back with its entry");
    assert_eq!(caller.stats().cancelled, 1);
}
