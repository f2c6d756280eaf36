//! A client not written in this project calls an rsvp responder: nats-py (from PyPI, put in
//! place by the test command) sends JSON with rsvp's budget header and reads the reply, a
//! rejection and a missing-header rejection as plain NATS headers.
//!
//! Python comes from `RSVP_NATS_PYTHON` (the test command sets it), else `python3`. Without
//! nats-py the test fails and says how to get it, unless `RSVP_NATS_SKIP_PYTHON` is set
//! (to anything but `0`): an explicit choice to run the suite without the foreign client.

mod support;

use std::process::Command;

use support::{bounded, connect, spawn_service, NatsServer};

/// Set (to anything but `0`) to let this test pass without nats-py.
const SKIP: &str = "RSVP_NATS_SKIP_PYTHON";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_py_calls_an_rsvp_responder() {
    let python = std::env::var("RSVP_NATS_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_nats_py = Command::new(&python)
        .args(["-c", "import nats"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_nats_py {
        let skip = std::env::var_os(SKIP).is_some_and(|v| v != "0");
        assert!(
            skip,
            "{python} cannot import nats (nats-py, a NATS client for Python). ./test.sh \
             installs the version it pins and sets RSVP_NATS_PYTHON; by hand: `python3 -m \
             venv VENV && VENV/bin/pip install nats-py`, then run with \
             RSVP_NATS_PYTHON=VENV/bin/python. Or set {SKIP}=1 to run the other tests \
             without this one."
        );
        eprintln!("skipped, as {SKIP} asks: {python} cannot import nats");
        return;
    }
    let server = NatsServer::start();
    let (handle, serving, _seen) = spawn_service(connect(&server).await, "py.svc", |s| s).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/foreign_client.py");
    let url = server.url();
    let output = bounded(tokio::task::spawn_blocking(move || {
        Command::new(python).args([script, &url, "py.svc"]).output()
    }))
    .await
    .unwrap()
    .expect("run the python client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "reply 42");
    assert!(
        lines[1].starts_with("status rejected 400 undecodable request: json:"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("status rejected 400 missing Rsvp-Budget-Us header"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "no responders");
    assert_eq!(lines.len(), 4, "{stdout}");
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!((stats.endpoint.replied, stats.rejected), (1, 2));
}
