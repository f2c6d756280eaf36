//! A responder process: serves `rsvp.demo.double` in queue group `demo`, doubling numbers
//! after an optional delay, and says on stdout what it does. Run one or several (they
//! share the calls), then `caller`:
//!
//! ```sh
//! nats-server -a 127.0.0.1 -p 4222 &
//! cargo run -p rsvp-nats --example responder -- nats://127.0.0.1:4222 one
//! cargo run -p rsvp-nats --example caller -- nats://127.0.0.1:4222
//! ```

use std::time::Duration;

use rsvp_nats::{async_nats, Service};
use serde::{Deserialize, Serialize};

/// What the caller sends: a number, and how long the responder should take.
#[derive(Serialize, Deserialize)]
struct Job {
    n: u64,
    #[serde(default)]
    delay_ms: u64,
}

/// What comes back: the number doubled, and which responder did it.
#[derive(Serialize, Deserialize)]
struct Doubled {
    n: u64,
    by: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let name = args
        .next()
        .unwrap_or_else(|| format!("pid {}", std::process::id()));
    let client = async_nats::connect(url).await?;

    let by = name.clone();
    let serving = Service::<Job, Doubled>::new(client, "rsvp.demo.double")
        .queue_group("demo")
        .serve(move |job, responder| {
            let by = by.clone();
            async move {
                // Lines a test (or a person) can follow: the call reached this process.
                println!("took {} ({:?} left)", job.n, responder.time_left());
                if job.n == u64::MAX {
                    panic!("the handler for {} panicked", job.n);
                }
                let work = tokio::time::sleep(Duration::from_millis(job.delay_ms));
                tokio::select! {
                    () = work => {
                        let sent = responder.reply(Doubled { n: job.n.wrapping_mul(2), by });
                        println!("replied {} ({})", job.n, if sent.is_ok() { "sent" } else { "refused" });
                    }
                    () = responder.cancelled() => println!("cancelled {}", job.n),
                }
            }
        })
        .await?;
    println!("{name} ready");
    let stats = serving.await;
    println!("{stats:?}");
    Ok(())
}
