//! A handler that panics ends only its own call: the scenario of rsvp's `serve` catching
//! panics, which needs `std` (firmware has no unwinding to catch).

use core::future::Future;
use core::marker::PhantomData;
use core::num::NonZeroUsize;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use futures_util::future::join;
use rsvp::rpc::Endpoint;
use rsvp::{CallError, Responder, Rpc};

use crate::harness::{ensure, fail, yield_now, Failure, Harness};

/// `serve` runs a handler that panics when called (request 1), one whose future panics
/// when polled (2), and one whose future panics when polled and again when dropped (3):
/// each of those callers gets `Lost`, and serve goes on answering the next calls (4, 5).
/// Another server handle stays alive meanwhile, so a serve that died of a panic would
/// leave the later calls waiting (until they time out), not `Closed`.
pub async fn handler_panics<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "handler_panics";
    // Shared through an `Arc` (so the handler's type names no lifetime, which keeps the
    // scenario's future `Send` for harnesses that spawn it).
    let rpc: Arc<crate::call::Endpoint<H, 4>> = Arc::new(Rpc::new(h.clock()));
    let (caller, server) = Rpc::split(rpc);
    let other_server = server.clone();
    let limit = NonZeroUsize::new(2).expect("2 is not 0");
    let serving = server.serve(limit, handler);
    let calling = async move {
        let mut replies = [Ok(0); 5];
        for (n, reply) in (1..).zip(&mut replies) {
            *reply = caller.call_timeout(n, h.long()).await;
        }
        drop(caller);
        replies
    };
    let (replies, report) = join(calling, serving).await;
    drop(other_server);
    ensure!(
        replies[..3] == [Err(CallError::Lost); 3],
        "a caller whose handler panicked did not get Lost"
    );
    if replies[3..] != [Ok(8), Ok(10)] {
        return Err(fail!("serve did not go on after its handlers panicked"));
    }
    ensure!(
        (report.received, report.finished) == (5, 5),
        "serve's report does not count five requests taken and finished"
    );
    ensure!(
        (report.stats.lost, report.stats.replied) == (3, 2),
        "the stats do not count three Lost and two Replied"
    );
    Ok(())
}

/// The handler: it panics when called with 1, its future when polled on 2, and on 3 when
/// polled and again when dropped; it doubles the others.
fn handler<P>(n: u32, responder: Responder<P>) -> impl Future<Output = ()>
where
    P: Deref,
    P::Target: Endpoint<Req = u32, Resp = u32>,
{
    assert_ne!(n, 1, "the handler fails when called with 1");
    async move {
        yield_now().await;
        assert_ne!(n, 2, "the handler's future fails on 2");
        if n == 3 {
            PanicsTwice::<_>::new(responder).await;
        } else {
            let _ = responder.reply(n * 2);
        }
    }
}

/// A handler's future that panics when polled, and again when dropped (unless a panic is
/// unwinding already), resolving to `Out` if it ever did; it holds `T` (the call's responder,
/// say), which goes with it. For tests of how rsvp's servers catch handler panics.
pub struct PanicsTwice<T, Out = ()> {
    _held: T,
    _out: PhantomData<fn() -> Out>,
}

impl<T, Out> PanicsTwice<T, Out> {
    /// A future holding `held`.
    pub fn new(held: T) -> Self {
        Self {
            _held: held,
            _out: PhantomData,
        }
    }
}

impl<T, Out> Future for PanicsTwice<T, Out> {
    type Output = Out;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Out> {
        panic!("the handler's future fails when polled");
    }
}

impl<T, Out> Drop for PanicsTwice<T, Out> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("and again when dropped");
        }
    }
}
