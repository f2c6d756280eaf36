//! Over the single-thread lock the default queue lives inside the endpoint's lock
//! ([`rsvp::queue::InlineQueue`]): what that changes must not show. Requests still leave in
//! order, a shutdown still ends each call once, and a request is never dropped while the
//! lock is held (its `Drop` may use the endpoint: inside the lock, a single-thread endpoint
//! would panic on the re-entry).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use rsvp::queue::TryRecvError;
use rsvp::time::ManualClock;
use rsvp::{CallError, CloseMode, Rpc};
use rsvp_tests::{LocalRpc, Poller};

type Endpoint = LocalRpc<Probe, u32, 4>;

/// A request that, when dropped, reads its endpoint's stats: that takes the endpoint's lock.
struct Probe {
    value: u32,
    rpc: Weak<Endpoint>,
    /// Requests dropped so far, with the calls each saw queued then.
    drops: Rc<RefCell<Vec<(u32, usize)>>>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(rpc) = self.rpc.upgrade() {
            let queued = rpc.stats().queued;
            self.drops.borrow_mut().push((self.value, queued));
        }
    }
}

struct Harness {
    rpc: Rc<Endpoint>,
    link: Weak<Endpoint>,
    drops: Rc<RefCell<Vec<(u32, usize)>>>,
}

impl Harness {
    fn new() -> Self {
        let rpc = Rc::new(Endpoint::new(ManualClock::new()));
        Self {
            link: Rc::downgrade(&rpc),
            rpc,
            drops: Rc::default(),
        }
    }

    fn probe(&self, value: u32) -> Probe {
        Probe {
            value,
            rpc: self.link.clone(),
            drops: self.drops.clone(),
        }
    }

    fn dropped(&self) -> Vec<(u32, usize)> {
        self.drops.borrow().clone()
    }
}

#[test]
fn a_queued_request_given_up_is_dropped_outside_the_lock() {
    let h = Harness::new();
    let (caller, server) = Rpc::split(h.rpc.clone());
    let first = caller.try_call(h.probe(1)).unwrap();
    let second = caller.try_call(h.probe(2)).unwrap();
    drop(first);
    assert_eq!(
        h.dropped(),
        [(1, 1)],
        "dropped once, with only the second call queued"
    );
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req.value, 2, "the queue skipped nothing else");
    responder.reply(req.value * 10).unwrap();
    drop(req);
    assert_eq!(Poller::new().ready(&mut Box::pin(second)), Ok(20));
    let stats = h.rpc.stats();
    assert_eq!((stats.cancelled, stats.replied), (1, 1));
}

#[test]
fn close_fail_drops_every_queued_request_outside_the_lock_and_ends_each_call_once() {
    let h = Harness::new();
    let (caller, server) = Rpc::split(h.rpc.clone());
    let mut calls: Vec<_> = (1..=3)
        .map(|i| Box::pin(caller.try_call(h.probe(i)).unwrap()))
        .collect();
    assert_eq!(caller.close(CloseMode::Fail), 3);
    let values: Vec<u32> = h.dropped().iter().map(|&(v, _)| v).collect();
    assert_eq!(values, [1, 2, 3], "every queued request dropped, in order");
    let poller = Poller::new();
    for call in &mut calls {
        assert_eq!(poller.ready(call), Err(CallError::Closed));
    }
    assert!(matches!(server.try_recv(), Err(TryRecvError::Closed)));
    let stats = h.rpc.stats();
    assert_eq!((stats.closed, stats.queued, stats.replied), (3, 0, 0));
}

#[test]
fn a_permit_sent_after_close_drain_ends_closed_once() {
    let h = Harness::new();
    let (caller, server) = Rpc::split(h.rpc.clone());
    let permit = caller.try_reserve().unwrap();
    assert_eq!(
        caller.close(CloseMode::Drain),
        0,
        "a drain ends nothing by itself"
    );
    let mut call = Box::pin(permit.call(h.probe(7)));
    assert_eq!(Poller::new().ready(&mut call), Err(CallError::Closed));
    assert_eq!(h.dropped(), [(7, 0)], "its request was dropped, unsent");
    assert!(matches!(server.try_recv(), Err(TryRecvError::Closed)));
    let stats = h.rpc.stats();
    assert_eq!((stats.closed, stats.queued), (1, 0));
}

#[test]
fn requests_leave_in_the_order_they_were_queued_across_reuse_of_slots() {
    let h = Harness::new();
    let (caller, server) = Rpc::split(h.rpc.clone());
    let mut next = 0;
    let poller = Poller::new();
    let mut order = Vec::new();
    for _round in 0..3 {
        // Fill all four slots, give one up from the middle, serve the rest.
        let mut calls: Vec<_> = (0..4)
            .map(|_| {
                next += 1;
                Some(Box::pin(caller.try_call(h.probe(next)).unwrap()))
            })
            .collect();
        calls[1] = None;
        while let Ok((req, responder)) = server.try_recv() {
            order.push(req.value);
            responder.reply(req.value).unwrap();
        }
        for call in calls.iter_mut().flatten() {
            assert!(poller.ready(call).is_ok());
        }
    }
    assert_eq!(order, [1, 3, 4, 5, 7, 8, 9, 11, 12]);
}
