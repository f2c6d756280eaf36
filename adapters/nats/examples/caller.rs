//! A caller process: calls `rsvp.demo.double` (see the `responder` example) a few times and
//! prints each outcome, including a call that times out and one with no responder.
//!
//! ```sh
//! cargo run -p rsvp-nats --example caller -- nats://127.0.0.1:4222
//! ```

use std::time::Duration;

use rsvp_nats::{async_nats, Caller};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Job {
    n: u64,
    delay_ms: u64,
}

#[derive(Serialize, Deserialize, Debug)]
struct Doubled {
    n: u64,
    by: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let client = async_nats::connect(url).await?;
    let double = Caller::<Job, Doubled>::new(client.clone(), "rsvp.demo.double");

    for n in 1..=4 {
        let reply = double.call(Job { n, delay_ms: 0 }).await;
        println!("double({n}) = {reply:?}");
    }
    // The responder takes 500 ms; the caller waits 100: `Timeout`, and the responder's
    // handler sees the cancel.
    let late = Job {
        n: 5,
        delay_ms: 500,
    };
    let reply = double.call_timeout(late, Duration::from_millis(100)).await;
    println!("double(5) with 100 ms for 500 ms of work = {reply:?}");
    // A panicking handler: `Lost`, and the responder goes on.
    let reply = double
        .call(Job {
            n: u64::MAX,
            delay_ms: 0,
        })
        .await;
    println!("double(u64::MAX), whose handler panics = {reply:?}");
    // Nobody serves this subject: `Closed` at once.
    let nobody = Caller::<Job, Doubled>::new(client, "rsvp.demo.nobody");
    let reply = nobody.call(Job { n: 6, delay_ms: 0 }).await;
    println!("a subject nobody serves = {reply:?}");
    Ok(())
}
