//! Responders as processes: two example responders in one queue group share the calls, and
//! killing one mid-call (SIGKILL) gives the callers it held `Timeout` at their deadline —
//! a dead process is only silence on NATS — while the other goes on answering.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rsvp_nats::rsvp::CallError;
use rsvp_nats::{Caller, Error};
use serde::{Deserialize, Serialize};
use support::{bounded, connect, ChildResponder, NatsServer};

/// The example responder's request and reply.
#[derive(Serialize, Deserialize)]
struct Job {
    n: u64,
    delay_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Doubled {
    n: u64,
    by: String,
}

const SUBJECT: &str = "rsvp.demo.double";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_group_shares_calls_and_survives_a_killed_member() {
    let server = NatsServer::start();
    let mut a = ChildResponder::start(&server, "A").await;
    let mut b = ChildResponder::start(&server, "B").await;
    let caller = Caller::<Job, Doubled>::new(connect(&server).await, SUBJECT);

    // Quick calls: both members answer some.
    let mut answered = HashMap::<String, u32>::new();
    for n in 0..40 {
        let reply = bounded(caller.call_timeout(Job { n, delay_ms: 0 }, Duration::from_secs(5)))
            .await
            .expect("a quick call is answered");
        assert_eq!(reply.n, n * 2);
        *answered.entry(reply.by).or_default() += 1;
    }
    assert_eq!(
        answered.len(),
        2,
        "one member took every call: {answered:?}"
    );
    // Each member printed "took" and "replied" for each of its calls.
    for (member, name) in [(&mut a, "A"), (&mut b, "B")] {
        for _ in 0..answered[name] * 2 {
            member.line().await;
        }
    }

    // Slow calls (500 ms of work, 3 s to wait) until each member holds at least one.
    let timeout = Duration::from_secs(3);
    let mut held = Vec::new(); // (holder, call)
    for n in 100..140 {
        let caller = caller.clone();
        let call = tokio::spawn(async move {
            let start = Instant::now();
            let result = caller.call_timeout(Job { n, delay_ms: 500 }, timeout).await;
            (result, start.elapsed())
        });
        let holder = tokio::select! {
            line = took(&mut a) => { assert!(line.starts_with(&format!("took {n} ")), "{line}"); "A" }
            line = took(&mut b) => { assert!(line.starts_with(&format!("took {n} ")), "{line}"); "B" }
        };
        held.push((holder, call));
        if held.iter().any(|(h, _)| *h == "A") && held.iter().any(|(h, _)| *h == "B") {
            break;
        }
    }
    a.kill();

    // The survivor answers every call once nats-server has seen the member go (a call it
    // routed to the dead member just before is lost: that caller gets `Timeout`).
    let quick = Duration::from_secs(1);
    let mut lost = 0;
    while let Err(e) = bounded(caller.call_timeout(
        Job {
            n: 199,
            delay_ms: 0,
        },
        quick,
    ))
    .await
    {
        assert_eq!(e, Error::Call(CallError::Timeout));
        lost += 1;
        assert!(
            lost < 5,
            "nats-server still routes calls to the killed member"
        );
    }
    for n in 200..210 {
        let reply = bounded(caller.call_timeout(Job { n, delay_ms: 0 }, Duration::from_secs(5)))
            .await
            .expect("the survivor answers");
        assert_eq!(
            reply,
            Doubled {
                n: n * 2,
                by: "B".into()
            }
        );
    }
    for (holder, call) in held {
        let (result, elapsed) = bounded(call).await.unwrap();
        if holder == "A" {
            assert_eq!(result.unwrap_err(), Error::Call(CallError::Timeout));
            assert!(
                elapsed >= timeout && elapsed < timeout + Duration::from_secs(2),
                "{elapsed:?}"
            );
        } else {
            assert_eq!(result.unwrap().by, "B");
        }
    }
    drop(b);
}

/// The next "took" line of `member` (skipping the "replied" lines of earlier slow calls).
async fn took(member: &mut ChildResponder) -> String {
    loop {
        let line = member.line().await;
        if line.starts_with("took ") {
            return line;
        }
    }
}
