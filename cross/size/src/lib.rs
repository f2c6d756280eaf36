//! The size firmwares share their behaviour, written once per flavour in a macro so that
//! the number of reply slots can vary (`b_rsvp` and `b_rsvp_8` differ only in it, which
//! gives the RAM cost of one slot).
//!
//! The behaviour: a server task doubles each number; the main task makes three calls, each
//! with a 100 ms timeout, then one call to a number the server ignores, which must time
//! out; then it exits through semihosting (status 0 if every outcome was right).
#![no_std]

/// The embassy-time timeout of every call, in milliseconds.
pub const TIMEOUT_MS: u64 = 100;

/// The number the servers never answer.
pub const IGNORED: u32 = 0;

/// (b): the behaviour on rsvp-embassy, with `$slots` reply slots.
#[macro_export]
macro_rules! rsvp_firmware {
    ($slots:expr) => {
        use core::time::Duration;
        use embassy_executor::Spawner;
        use rsvp_embassy::rsvp::{self, CallError};
        use rsvp_embassy::{EmbassyTimer, Rpc, Server};

        const SLOTS: usize = $slots;

        #[unsafe(no_mangle)]
        static RPC: Rpc<u32, u32, SLOTS> = Rpc::new(EmbassyTimer);

        #[embassy_executor::task]
        async fn server(server: Server<u32, u32, SLOTS>) {
            while let Some((n, responder)) = server.recv().await {
                if n != $crate::IGNORED {
                    let _ = responder.reply(n * 2);
                } else {
                    // Keep it until its caller gives up, as a responder that checks.
                    responder.cancelled().await;
                }
            }
        }

        #[embassy_executor::task]
        async fn run(spawner: Spawner) {
            let (caller, server_handle) = rsvp::Rpc::split(&RPC);
            spawner.spawn(server(server_handle).unwrap());
            let timeout = Duration::from_millis($crate::TIMEOUT_MS);
            let mut ok = true;
            for n in 1..=3 {
                ok &= caller.call_timeout(n, timeout).await == Ok(n * 2);
            }
            ok &= caller.call_timeout($crate::IGNORED, timeout).await == Err(CallError::Timeout);
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
    };
}
