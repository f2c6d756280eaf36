//! Call ids cannot be guessed: a third client that listens on a service's cancel subject
//! (so it knows the subject and every id a caller has cancelled) cannot cancel that
//! caller's next call. Its cancels change nothing: the call is answered.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rsvp_nats::rsvp::CallError;
use rsvp_nats::{wire, Caller, Error, Service};
use support::{bounded, connect, round_trip, NatsServer};
use tokio::sync::{mpsc, Notify};

/// Held until the caller gives up.
const HOLD: u64 = 0;
/// Held until the test releases it, then answered, unless cancelled first.
const GATED: u64 = 1;

/// What the handler saw of the gated call.
#[derive(Debug, PartialEq)]
enum Gated {
    Took,
    Cancelled,
    Replied,
}

/// The ids an attacker would try after seeing `seen`: the next ones, if it counts (a
/// decimal counter after a per-caller prefix, or a number), and `seen` itself.
fn guesses(seen: &str) -> Vec<String> {
    let mut guesses = vec![seen.to_owned()];
    if let Some((prefix, n)) = seen.rsplit_once('.') {
        if let Ok(n) = n.parse::<u64>() {
            guesses.extend((1..=64).map(|k| format!("{prefix}.{}", n + k)));
        }
    }
    if let Ok(n) = u128::from_str_radix(seen, 16) {
        guesses.extend((1..=64).map(|k| format!("{:0w$x}", n.wrapping_add(k), w = seen.len())));
    }
    guesses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_knows_the_subject_but_not_the_id_cannot_cancel_a_call() {
    let server = NatsServer::start();
    let release = Arc::new(Notify::new());
    let (tx, mut gated) = mpsc::unbounded_channel();
    let serving = bounded(
        Service::<u64, u64>::new(connect(&server).await, "c.svc").serve({
            let release = release.clone();
            move |n, responder| {
                let (release, tx) = (release.clone(), tx.clone());
                async move {
                    match n {
                        HOLD => responder.cancelled().await,
                        GATED => {
                            let _ = tx.send(Gated::Took);
                            tokio::select! {
                                () = responder.cancelled() => {
                                    let _ = tx.send(Gated::Cancelled);
                                }
                                () = release.notified() => {
                                    let replied = responder.reply(n * 2).is_ok();
                                    let _ = tx.send(if replied { Gated::Replied } else { Gated::Cancelled });
                                }
                            }
                        }
                        n => drop(responder.reply(n * 2)),
                    }
                }
            }
        }),
    )
    .await
    .expect("serve");
    let handle = serving.handle();
    let serving = tokio::spawn(serving);

    // The third client listens to the cancels of the subject, as any client may.
    let attacker = connect(&server).await;
    let mut cancels = attacker
        .subscribe(wire::cancel_subject("c.svc"))
        .await
        .unwrap();
    round_trip(&attacker).await;

    // The victim gives up a call: its cancel shows the attacker one of its ids.
    let victim = Caller::<u64, u64>::new(connect(&server).await, "c.svc");
    let given_up = bounded(victim.call_timeout(HOLD, Duration::from_millis(200))).await;
    assert_eq!(given_up, Err(Error::Call(CallError::Timeout)));
    let seen = bounded(cancels.next()).await.expect("the victim's cancel");
    let seen = String::from_utf8(seen.payload.to_vec()).unwrap();
    assert!(!seen.is_empty());

    // The victim's next call is held; the attacker cancels every id it can think of.
    let call = tokio::spawn({
        let victim = victim.clone();
        async move { victim.call_timeout(GATED, Duration::from_secs(20)).await }
    });
    assert_eq!(bounded(gated.recv()).await, Some(Gated::Took));
    for guess in guesses(&seen) {
        attacker
            .publish(wire::cancel_subject("c.svc"), guess.into())
            .await
            .unwrap();
    }
    // The responder has read the attacker's cancels once it answers the attacker's next
    // request: one connection's messages reach the responder in order, and it reads the
    // cancels it has before taking requests.
    let attacker_caller = Caller::<u64, u64>::new(attacker.clone(), "c.svc");
    assert_eq!(
        bounded(attacker_caller.call_timeout(21, Duration::from_secs(10))).await,
        Ok(42)
    );

    // The call is still live: released, it is answered.
    release.notify_one();
    assert_eq!(bounded(gated.recv()).await, Some(Gated::Replied));
    assert_eq!(bounded(call).await.unwrap(), Ok(GATED * 2));
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!(stats.endpoint.replied, 2, "{stats:?}");
}
