//! What the tests share: a nats-server of their own on loopback, clients that reconnect
//! fast, a hard bound on every await, and the example responder as a child process.
#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rsvp_nats::async_nats::{self, Client, ConnectOptions};

/// No test await may take longer: a hang fails the test instead of stalling the run.
pub const HARD_LIMIT: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test if it takes longer than [`HARD_LIMIT`].
#[track_caller]
pub fn bounded<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let at = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(HARD_LIMIT, fut).await {
            Ok(value) => value,
            Err(_) => panic!("hung for {HARD_LIMIT:?} at {at}"),
        }
    }
}

/// The nats-server binary: `$NATS_SERVER`, else `nats-server` on the `PATH`, else Debian's
/// place for it (`/usr/sbin`, not on every user's `PATH`).
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

/// A nats-server of this test's own, on 127.0.0.1, killed when dropped.
pub struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts a server on a free port the server picks.
    pub fn start() -> Self {
        Self::start_on(None)
    }

    fn start_on(port: Option<u16>) -> Self {
        let binary = server_binary();
        let port_arg = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port_arg])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): the NATS tests need nats-server \
                     (`apt-get install nats-server`, or set NATS_SERVER to its path)",
                    binary.display()
                )
            });
        // The server logs to stderr; the line naming the client port is the readiness signal.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    let port = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                    if let (Some(tx), Some(port)) = (tx.take(), port) {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("nats-server did not say it was listening within 10 s");
        Self { child, port }
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and waits until it is gone.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop)).
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(Some(self.port));
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A client of `server` that tries to reconnect every 20 ms.
pub async fn connect(server: &NatsServer) -> Client {
    let options = ConnectOptions::new().reconnect_delay_callback(|_| Duration::from_millis(20));
    bounded(async_nats::connect_with_options(server.url(), options))
        .await
        .expect("connect to the test's nats-server")
}

/// A client of `server` that tries to reconnect every 20 ms, and its connection events
/// (`Disconnected`, `Connected`, ...) as they happen.
pub async fn connect_with_events(
    server: &NatsServer,
) -> (
    Client,
    tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let options = ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(20))
        .event_callback(move |event| {
            let _ = tx.send(event);
            async {}
        });
    let client = bounded(async_nats::connect_with_options(server.url(), options))
        .await
        .expect("connect to the test's nats-server");
    (client, rx)
}

/// Waits until the server has processed everything `client` sent before (its
/// subscriptions, re-sent after a reconnect): a message to itself comes back. (async-nats'
/// `flush` only empties the socket.)
pub async fn round_trip(client: &Client) {
    use futures_util::StreamExt;
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.expect("subscribe");
    client.publish(inbox, "".into()).await.expect("publish");
    bounded(echo.next()).await.expect("the echo");
}

/// Waits for the event that `matches` accepts, skipping others.
pub async fn event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
    matches: impl Fn(&async_nats::Event) -> bool,
) {
    bounded(async {
        loop {
            let event = events.recv().await.expect("the client's events ended");
            if matches(&event) {
                return;
            }
        }
    })
    .await;
}

/// The example `responder` running as a child process, killed when dropped; its stdout
/// lines arrive on a channel.
pub struct ChildResponder {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ChildResponder {
    /// Starts the example responder named `name` against `server` and waits for its
    /// `ready` line (it has subscribed).
    pub async fn start(server: &NatsServer, name: &str) -> Self {
        let path = example_binary("responder");
        let mut child = Command::new(&path)
            .args([server.url().as_str(), name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the example responder at {} ({e})",
                    path.display()
                )
            });
        let lines = forward_lines(child.stdout.take().expect("piped stdout"));
        let mut this = Self { child, lines };
        let ready = this.line().await;
        assert_eq!(ready, format!("{name} ready"));
        this
    }

    /// The next line the responder prints.
    pub async fn line(&mut self) -> String {
        bounded(self.lines.recv())
            .await
            .expect("the responder's stdout closed")
    }

    /// Kills the process at once (SIGKILL: no goodbye to anyone).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildResponder {
    fn drop(&mut self) {
        self.kill();
    }
}

fn forward_lines(stdout: ChildStdout) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// What the test service is asked to do.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq)]
pub enum Ask {
    /// Reply with the number doubled.
    Double(u64),
    /// Drop the responder without replying: `Lost`.
    Drop,
    /// Panic in the handler: `Lost`, and serving goes on.
    Panic,
    /// Reply nothing; wait until the call is cancelled (deadline or cancel message).
    Hold,
}

/// What the test service's handler saw, one per request it took.
#[derive(Debug)]
pub enum Seen {
    /// A request arrived, with the time left before its deadline.
    Took(Ask, Option<Duration>),
    /// A held call was cancelled; whether a reply after that was refused.
    Cancelled { reply_refused: bool },
}

/// A test service on `subject`: runs [`Ask`]s, reports what it saw, and returns its stats
/// when stopped through the handle.
pub async fn spawn_service(
    client: Client,
    subject: &str,
    configure: impl FnOnce(rsvp_nats::Service<Ask, u64>) -> rsvp_nats::Service<Ask, u64>,
) -> (
    rsvp_nats::ServiceHandle,
    tokio::task::JoinHandle<rsvp_nats::ServeStats>,
    tokio::sync::mpsc::UnboundedReceiver<Seen>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let service = configure(rsvp_nats::Service::new(client, subject));
    let serving = bounded(service.serve(move |ask, responder| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(Seen::Took(ask, responder.time_left()));
            match ask {
                Ask::Double(n) => {
                    let _ = responder.reply(n * 2);
                }
                Ask::Drop => drop(responder),
                Ask::Panic => panic!("the test handler panics, as asked"),
                Ask::Hold => {
                    responder.cancelled().await;
                    let reply_refused = responder.reply(0).is_err();
                    let _ = tx.send(Seen::Cancelled { reply_refused });
                }
            }
        }
    }))
    .await
    .expect("serve");
    let handle = serving.handle();
    (handle, tokio::spawn(serving), rx)
}

/// Waits for the next thing the test service saw.
pub async fn seen(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>) -> Seen {
    bounded(rx.recv()).await.expect("the service is gone")
}

/// The path of an example of this crate, built beside the test binaries
/// (`<target>/<profile>/examples`). A full test run builds the examples; a run of one test
/// target does not, so a missing one is built here.
fn example_binary(name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = profile_dir.join("examples").join(name);
    let _one_build_at_a_time = BUILD.lock();
    if !path.is_file() {
        let target_dir = profile_dir.parent().expect("target root");
        let profile = profile_dir
            .file_name()
            .and_then(|p| p.to_str())
            .unwrap_or("debug");
        let profile = if profile == "debug" { "dev" } else { profile };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "rsvp-nats",
                "--example",
                name,
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the example {name} failed");
    }
    path
}
