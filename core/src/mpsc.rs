//! rsvp over futures-channel's bounded `mpsc`: for users who already have one, or who want
//! its sender-side fairness.
//!
//! ```
//! use rsvp::lock::LocalMutex;
//! use rsvp::queue::MpscQueue;
//! use rsvp::rpc::With;
//! use rsvp::time::ManualClock;
//! use rsvp::Rpc;
//!
//! // A futures mpsc with room for 4 requests carries the requests of an 8-slot endpoint.
//! let rpc: Rpc<u32, u32, 8, With<LocalMutex, ManualClock, MpscQueue<rsvp::queue::Envelope<u32>>>> =
//!     Rpc::with_queue(MpscQueue::new(4), ManualClock::new());
//! let (caller, server) = Rpc::split(&rpc);
//! # futures_executor::block_on(async {
//! let call = caller.try_call(20).unwrap();
//! let (req, responder) = server.recv().await.unwrap();
//! responder.reply(req + 1).unwrap();
//! assert_eq!(call.await, Ok(21));
//! # });
//! ```

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_channel::mpsc::{self, Receiver, Sender};
use futures_util::task::noop_waker_ref;
use futures_util::StreamExt;

use crate::error::{TryRecvError, TrySendError};
use crate::queue::{RequestQueue, Waiters};
use crate::sync::{Mutex, StdMutex};
use crate::wait_list::WaitEntry;
use crate::waker_set::{WakeRest, Wakes};

/// A [`RequestQueue`] over a futures-channel bounded `mpsc` channel.
///
/// Its capacity is futures-channel's: `buffer + 1` (the buffer plus one slot for the one
/// sender it holds). It cannot take a request out of the middle, so a request whose caller
/// gave up while queued stays queued until the server skips it.
pub struct MpscQueue<T> {
    shared: Mutex<StdMutex, Ends<T>>,
}

struct Ends<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
    len: usize,
    /// Servers waiting for a request, and callers waiting for room. The futures `Receiver`
    /// remembers one task, and does not wake it when it is closed itself; a futures `Sender`
    /// remembers one waiting task per sender, and every caller goes through this one
    /// sender: so rsvp keeps the waiting tasks itself.
    waiters: Waiters,
}

impl<T> MpscQueue<T> {
    /// A channel with room for `buffer + 1` requests.
    pub fn new(buffer: usize) -> Self {
        let (tx, rx) = mpsc::channel(buffer);
        Self::from_channel(tx, rx)
    }

    /// Wraps both ends of an existing channel. Other senders of the same channel may keep
    /// sending; what they send must be requests this endpoint made.
    pub fn from_channel(tx: Sender<T>, rx: Receiver<T>) -> Self {
        Self {
            shared: Mutex::new(Ends {
                tx,
                rx,
                len: 0,
                waiters: Waiters::new(),
            }),
        }
    }
}

impl<T> core::fmt::Debug for MpscQueue<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MpscQueue")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T> Ends<T> {
    fn took(&mut self, item: T, wakes: &mut Wakes) -> T {
        self.len = self.len.saturating_sub(1);
        self.waiters.room_came(wakes);
        item
    }
}

impl<T> WakeRest for Ends<T> {
    fn wake_rest(&mut self, wakes: &mut Wakes) {
        self.waiters.wake_all(wakes);
    }
}

/// The channel is only ever used under the lock, and rsvp keeps its own lists of waiting
/// tasks: the channel's own wake-ups (which it would send from inside the lock) go to a
/// waker that does nothing.
fn quiet() -> Context<'static> {
    Context::from_waker(noop_waker_ref())
}

impl<T> MpscQueue<T> {
    /// `poll_ready`, waiting in line with `entry` if given.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`RequestQueue::leave_line`]) before it is dropped.
    unsafe fn ready(&self, cx: &mut Context<'_>, entry: Option<Pin<&WaitEntry>>) -> Poll<()> {
        self.shared
            .lock_wake(|ends, wakes| match ends.tx.poll_ready(&mut quiet()) {
                // An error means closed: `try_send` will say so.
                Poll::Ready(_) => {
                    ends.waiters.found_room(entry, wakes);
                    Poll::Ready(())
                }
                Poll::Pending => {
                    // SAFETY: passed on from this method's contract.
                    unsafe { ends.waiters.wait_for_room(cx.waker(), entry, wakes) };
                    Poll::Pending
                }
            })
    }

    /// `poll_recv`, waiting in line with `entry` if given.
    ///
    /// # Safety
    ///
    /// As [`ready`](Self::ready).
    unsafe fn recv(&self, cx: &mut Context<'_>, entry: Option<Pin<&WaitEntry>>) -> Poll<Option<T>> {
        self.shared
            .lock_wake(|ends, wakes| match ends.rx.poll_next_unpin(&mut quiet()) {
                Poll::Ready(next) => {
                    ends.waiters.got_item(entry, wakes);
                    Poll::Ready(next.map(|item| ends.took(item, wakes)))
                }
                Poll::Pending => {
                    // SAFETY: passed on from this method's contract.
                    unsafe { ends.waiters.wait_for_item(cx.waker(), entry, wakes) };
                    Poll::Pending
                }
            })
    }
}

impl<T> RequestQueue<T> for MpscQueue<T> {
    fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.shared
            .lock_wake(|ends, wakes| match ends.tx.try_send(item) {
                Ok(()) => {
                    ends.len += 1;
                    ends.waiters.item_came(wakes);
                    Ok(())
                }
                Err(error) if error.is_full() => Err(TrySendError::Full(error.into_inner())),
                Err(error) => Err(TrySendError::Closed(error.into_inner())),
            })
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: no entry.
        unsafe { self.ready(cx, None) }
    }

    unsafe fn poll_ready_in_line(&self, cx: &mut Context<'_>, entry: Pin<&WaitEntry>) -> Poll<()> {
        // SAFETY: passed on from this method's contract.
        unsafe { self.ready(cx, Some(entry)) }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: no entry.
        unsafe { self.recv(cx, None) }
    }

    unsafe fn poll_recv_in_line(
        &self,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Option<T>> {
        // SAFETY: passed on from this method's contract.
        unsafe { self.recv(cx, Some(entry)) }
    }

    unsafe fn leave_line(&self, entry: Pin<&WaitEntry>) {
        self.shared
            // Other senders of the channel may have sent what `len` does not count: a
            // receiver that leaves passes a wake-up on as if items were left (a spare
            // wake-up is harmless).
            .lock_wake(|ends, wakes| ends.waiters.leave(entry, true, wakes));
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        self.shared
            .lock_wake(|ends, wakes| match ends.rx.try_recv() {
                Ok(item) => Ok(ends.took(item, wakes)),
                Err(mpsc::TryRecvError::Empty) => Err(TryRecvError::Empty),
                Err(mpsc::TryRecvError::Closed) => Err(TryRecvError::Closed),
            })
    }

    fn close(&self) {
        self.shared.lock_wake(|ends, wakes| {
            ends.rx.close();
            ends.waiters.wake_all(wakes);
        });
    }

    fn is_closed(&self) -> bool {
        self.shared.lock(|ends| ends.tx.is_closed())
    }

    fn len(&self) -> usize {
        self.shared.lock(|ends| ends.len)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::error::{CallError, TryCallError};
    use crate::queue::Envelope;
    use crate::rpc::{CloseMode, Rpc, With};
    use crate::sync::LocalMutex;
    use crate::time::NoClock;
    use alloc::boxed::Box;
    use core::future::Future as _;
    use futures_util::task::noop_waker;

    type Endpoint = Rpc<u32, u32, 8, With<LocalMutex, NoClock, MpscQueue<Envelope<u32>>>>;

    /// A receiver that finds an item another sender of the channel sent (no wake-up came
    /// for it) and ends does not keep the first place: the next item wakes the receiver
    /// that waits.
    #[test]
    fn an_item_from_another_sender_ends_a_wait_without_keeping_the_first_place() {
        use crate::test_support::{counter, woken};
        let (tx, rx) = mpsc::channel::<u32>(4);
        let mut other = tx.clone();
        let q = MpscQueue::from_channel(tx, rx);
        let ((a_count, a_waker), (b_count, b_waker)) = (counter(), counter());
        let (a, b) = (
            core::pin::pin!(WaitEntry::new()),
            core::pin::pin!(WaitEntry::new()),
        );
        let cx = &mut Context::from_waker(&a_waker);
        // SAFETY: a leaves the queue's lines by its next, ready receive, before it goes.
        assert!(unsafe { q.poll_recv_in_line(cx, a.as_ref()) }.is_pending());
        other.try_send(1).unwrap();
        // SAFETY: as above; this receive takes the item, and a is out of line.
        let took = unsafe { q.poll_recv_in_line(cx, a.as_ref()) };
        assert_eq!(took, Poll::Ready(Some(1)));
        let cx = &mut Context::from_waker(&b_waker);
        // SAFETY: b leaves the queue's lines (`leave_line` below) before it goes.
        assert!(unsafe { q.poll_recv_in_line(cx, b.as_ref()) }.is_pending());
        q.try_send(2).unwrap();
        let got = (woken(&a_count), woken(&b_count));
        // SAFETY: b waits in this queue's line, or in none.
        unsafe { q.leave_line(b.as_ref()) };
        assert_eq!(got, (0, 1), "b, the one waiting, is woken");
    }

    #[test]
    fn calls_flow_through_the_channel_and_full_comes_from_it() {
        let rpc: Endpoint = Rpc::with_queue(MpscQueue::new(1), NoClock);
        let (caller, server) = Rpc::split(&rpc);
        // buffer 1 + 1 sender: two requests fit although the endpoint has 8 slots.
        let first = caller.try_call(1).unwrap();
        let second = caller.try_call(2).unwrap();
        assert!(matches!(caller.try_call(3), Err(TryCallError::Full(3))));
        for (expected, call) in [(1, first), (2, second)] {
            let (req, responder) = server.try_recv().unwrap();
            assert_eq!(req, expected);
            responder.reply(req * 10).unwrap();
            assert_eq!(futures_executor::block_on(call), Ok(expected * 10));
        }
        assert_eq!(rpc.stats().full, 1);
    }

    #[test]
    fn a_caller_waiting_for_room_is_woken_when_the_server_takes_one() {
        let rpc: Endpoint = Rpc::with_queue(MpscQueue::new(0), NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let first = caller.try_call(1).unwrap();
        let mut waiting = Box::pin(caller.call(2));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req).unwrap();
        assert_eq!(futures_executor::block_on(first), Ok(1));
        // Room again: the waiting call goes out now.
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        assert_eq!(req, 2);
        responder.reply(20).unwrap();
        assert_eq!(futures_executor::block_on(waiting), Ok(20));
    }

    #[test]
    fn closing_fails_what_is_queued() {
        let rpc: Endpoint = Rpc::with_queue(MpscQueue::new(4), NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let call = caller.try_call(1).unwrap();
        assert_eq!(rpc.close(CloseMode::Fail), 1);
        assert_eq!(futures_executor::block_on(call), Err(CallError::Closed));
        assert!(server.try_recv().is_err());
        assert!(matches!(caller.try_call(2), Err(TryCallError::Closed(2))));
    }
}
