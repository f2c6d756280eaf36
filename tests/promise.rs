//! The promise through the public API: the seed's `TestFuture`, first set wins, and
//! `Abandoned` once every setter is gone.

use std::cell::RefCell;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use rsvp::lock::LocalMutex;
use rsvp::promise;
use rsvp::promise::WaitError;
use rsvp::time::{ManualClock, Timer};
use rsvp_tests::ms;

/// The seed's `TestFuture`: not ready at first; another task sets it after 50 ms; `Get`
/// returns the value; ready afterwards.
#[test]
fn seed_test_future() {
    let clock = ManualClock::new();
    let (setter, future) = promise::<&'static str, LocalMutex>();
    assert!(!future.is_ready(), "not ready initially");

    let mut pool = LocalPool::new();
    let setter_clock = clock.clone();
    pool.spawner()
        .spawn_local(async move {
            setter_clock.sleep_until(setter_clock.after(ms(50))).await;
            setter.set("test result").unwrap();
        })
        .unwrap();
    let got = Rc::new(RefCell::new(None));
    let (out, waiter) = (got.clone(), future.clone());
    pool.spawner()
        .spawn_local(async move { *out.borrow_mut() = Some(waiter.wait().await) })
        .unwrap();

    pool.run_until_stalled();
    assert_eq!(*got.borrow(), None, "Get waits");
    clock.advance(ms(50));
    pool.run_until_stalled();
    assert_eq!(*got.borrow(), Some(Ok("test result")));
    assert!(future.is_ready(), "ready after setting");
}

#[test]
fn the_first_value_wins_and_a_later_set_gets_its_value_back() {
    let (setter, promise) = promise::<String, LocalMutex>();
    let second = setter.clone();
    assert_eq!(promise.set("first".to_string()), Ok(()));
    assert_eq!(second.set("second".to_string()), Err("second".to_string()));
    assert_eq!(setter.set("third".to_string()), Err("third".to_string()));
    assert_eq!(promise.try_get().as_deref(), Ok("first"));
}

#[test]
fn abandoned_once_every_setter_is_gone_and_waiters_are_told() {
    let (setter, promise) = promise::<u32, LocalMutex>();
    let other = setter.clone();
    let mut pool = LocalPool::new();
    let got = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..3 {
        let (out, waiter) = (got.clone(), promise.clone());
        pool.spawner()
            .spawn_local(async move {
                let result = waiter.wait().await;
                out.borrow_mut().push(result);
            })
            .unwrap();
    }
    pool.run_until_stalled();
    drop(setter);
    pool.run_until_stalled();
    assert!(got.borrow().is_empty(), "one setter is still alive");
    drop(other);
    pool.run_until_stalled();
    assert_eq!(got.borrow().len(), 3);
    assert!(got
        .borrow()
        .iter()
        .all(|r| matches!(r, Err(WaitError::Abandoned))));
    assert!(promise.is_abandoned());
}

#[test]
fn a_timed_wait_gives_up_at_its_deadline_and_the_value_stays_for_others() {
    let clock = ManualClock::new();
    let (setter, promise) = promise::<u32, LocalMutex>();
    let mut pool = LocalPool::new();
    let got = Rc::new(RefCell::new(None));
    let (out, waiter, c) = (got.clone(), promise.clone(), clock.clone());
    pool.spawner()
        .spawn_local(async move { *out.borrow_mut() = Some(waiter.wait_timeout(&c, ms(50)).await) })
        .unwrap();
    pool.run_until_stalled();
    clock.advance(ms(49));
    pool.run_until_stalled();
    assert_eq!(*got.borrow(), None);
    clock.advance(ms(1));
    pool.run_until_stalled();
    assert_eq!(*got.borrow(), Some(Err(WaitError::Timeout)));
    setter.set(7).unwrap();
    assert_eq!(promise.try_get(), Ok(7));
}
