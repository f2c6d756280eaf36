//! rsvp-nats under smol: async-nats needs tokio's reactor and timers, so both sides run
//! inside `async_compat::Compat` (which lends them a tokio runtime), on smol's executor.

mod support;

use std::time::Duration;

use async_compat::Compat;
use rsvp_nats::rsvp::CallError;
use rsvp_nats::{async_nats, Caller, Error, Service};
use support::NatsServer;

#[test]
fn caller_and_responder_run_on_smol() {
    let server = NatsServer::start();
    let url = server.url();
    smol::block_on(Compat::new(async move {
        let client = async_nats::connect(url).await.unwrap();
        let serving = Service::<u64, u64>::new(client.clone(), "smol.double")
            .serve(|n, responder| async move {
                if n == 0 {
                    // Waits for the caller to give up (its cancel, or the deadline).
                    responder.cancelled().await;
                } else {
                    let _ = responder.reply(n * 2);
                }
            })
            .await
            .unwrap();
        let handle = serving.handle();
        let serving = smol::spawn(Compat::new(serving));
        let caller = Caller::<u64, u64>::new(client, "smol.double");
        assert_eq!(
            caller.call_timeout(21, Duration::from_secs(5)).await,
            Ok(42)
        );
        assert_eq!(
            caller.call_timeout(0, Duration::from_millis(100)).await,
            Err(Error::Call(CallError::Timeout))
        );
        let nobody = Caller::<u64, u64>::new(caller.client().clone(), "smol.nobody");
        assert_eq!(nobody.call(1).await, Err(Error::Call(CallError::Closed)));
        handle.stop();
        let stats = smol::future::or(serving, async {
            smol::Timer::after(Duration::from_secs(30)).await;
            panic!("serving did not stop within 30 s");
        })
        .await;
        assert_eq!(stats.endpoint.replied, 1);
        assert_eq!(stats.endpoint.timeout + stats.endpoint.cancelled, 1);
    }));
}
