//! (a): request/response written by hand on embassy-sync: a `Channel` of requests, each
//! carrying a `&'static Signal` for its reply, and `with_timeout` from embassy-time. The
//! same behaviour as `b_rsvp` (see the crate docs), minus what embassy cannot express: the
//! server cannot see that a caller gave up (it just answers into the signal later), and
//! there is no `Lost`, `Closed` or `Full`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::{with_timeout, Duration};

type Reply = Signal<CriticalSectionRawMutex, u32>;

#[unsafe(no_mangle)]
static REQUESTS: Channel<CriticalSectionRawMutex, (u32, &'static Reply), 4> = Channel::new();
static REPLY: Reply = Signal::new();

#[embassy_executor::task]
async fn server() {
    loop {
        let (n, reply) = REQUESTS.receive().await;
        if n != rsvp_size::IGNORED {
            reply.signal(n * 2);
        }
    }
}

async fn call(n: u32) -> Option<u32> {
    // A reply that arrived after an earlier timeout must not answer this call.
    REPLY.reset();
    REQUESTS.send((n, &REPLY)).await;
    with_timeout(Duration::from_millis(rsvp_size::TIMEOUT_MS), REPLY.wait())
        .await
        .ok()
}

#[embassy_executor::task]
async fn run(spawner: Spawner) {
    spawner.spawn(server().unwrap());
    let mut ok = true;
    for n in 1..=3 {
        ok &= call(n).await == Some(n * 2);
    }
    ok &= call(rsvp_size::IGNORED).await.is_none();
    rsvp_cross::exit(ok)
}

#[cfg(target_os = "none")]
#[rsvp_cross::entry]
fn main() -> ! {
    rsvp_cross::start(|spawner| spawner.spawn(run(spawner).unwrap()))
}

#[cfg(not(target_os = "none"))]
fn main() {
    rsvp_cross::start(|spawner| spawner.spawn(run(spawner).unwrap()))
}
