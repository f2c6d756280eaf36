//! The executors every contender runs on, and how each scenario places its tasks on them.
//!
//! Every run only spawns, runs to completion and returns the wall time of the run. Building
//! a runtime is not timed; spawning the tasks is (a few microseconds against tens of
//! milliseconds of calls).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

/// A task on a single thread.
pub(crate) type LocalTask = Pin<Box<dyn Future<Output = ()>>>;
/// A task that may move between threads.
pub(crate) type SendTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor of a measurement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Exec {
    /// [`mini`]: embassy-executor's design on the host; the executor's own cost is near zero.
    Mini,
    /// async-executor (smol's executor) driven by futures-lite's `block_on`.
    Smol,
    /// tokio: a current_thread runtime (`tokio::spawn`, or a `LocalSet` for `!Send` tasks),
    /// two of them for S3, and `multi_thread(2)` for S3mt.
    Tokio,
}

impl Exec {
    /// The executor's name in the tables; `local` for a `!Send` contender.
    pub(crate) fn label(self, local: bool) -> &'static str {
        match (self, local) {
            (Exec::Mini, _) => "mini",
            (Exec::Smol, _) => "smol",
            (Exec::Tokio, false) => "tokio",
            (Exec::Tokio, true) => "tokio-local",
        }
    }
}

/// Runs `!Send` tasks on one thread until all of them are done.
pub(crate) fn run_local(exec: Exec, tasks: Vec<LocalTask>) -> Duration {
    match exec {
        Exec::Mini => {
            let t0 = Instant::now();
            mini::run(tasks);
            t0.elapsed()
        }
        Exec::Smol => {
            let ex = async_executor::LocalExecutor::new();
            let t0 = Instant::now();
            let handles: Vec<_> = tasks.into_iter().map(|t| ex.spawn(t)).collect();
            futures_lite::future::block_on(ex.run(async {
                for h in handles {
                    h.await;
                }
            }));
            t0.elapsed()
        }
        Exec::Tokio => {
            let rt = current_thread();
            let local = tokio::task::LocalSet::new();
            let t0 = Instant::now();
            local.block_on(&rt, async {
                let handles: Vec<_> = tasks.into_iter().map(tokio::task::spawn_local).collect();
                for h in handles {
                    h.await.expect("a benchmark task panicked");
                }
            });
            t0.elapsed()
        }
    }
}

/// Runs `Send` tasks on one thread until all of them are done (tokio: `tokio::spawn` on a
/// current_thread runtime, the usual way to run `Send` code there).
pub(crate) fn run_one_thread(exec: Exec, tasks: Vec<SendTask>) -> Duration {
    match exec {
        Exec::Tokio => {
            let rt = current_thread();
            let t0 = Instant::now();
            rt.block_on(join_spawned(tasks));
            t0.elapsed()
        }
        _ => run_local(exec, tasks.into_iter().map(|t| t as LocalTask).collect()),
    }
}

/// S3: the responder alone on a second thread, the callers on this thread's
/// single-threaded executor.
pub(crate) fn run_two_threads(exec: Exec, callers: Vec<SendTask>, responder: SendTask) -> Duration {
    match exec {
        Exec::Mini => unreachable!("the minimal executor is single-threaded"),
        Exec::Smol => {
            let ex = async_executor::LocalExecutor::new();
            let t0 = Instant::now();
            let other = std::thread::spawn(move || futures_lite::future::block_on(responder));
            let handles: Vec<_> = callers.into_iter().map(|t| ex.spawn(t)).collect();
            futures_lite::future::block_on(ex.run(async {
                for h in handles {
                    h.await;
                }
            }));
            other.join().expect("the responder thread panicked");
            t0.elapsed()
        }
        Exec::Tokio => {
            let rt = current_thread();
            let t0 = Instant::now();
            let other = std::thread::spawn(move || current_thread().block_on(responder));
            rt.block_on(join_spawned(callers));
            other.join().expect("the responder thread panicked");
            t0.elapsed()
        }
    }
}

/// S3mt: every task on a pool of two worker threads.
pub(crate) fn run_pool(exec: Exec, tasks: Vec<SendTask>) -> Duration {
    match exec {
        Exec::Mini => unreachable!("the minimal executor is single-threaded"),
        Exec::Smol => {
            let ex = async_executor::Executor::new();
            let (stop, stopped) = async_channel::bounded::<()>(1);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let stopped = stopped.clone();
                    let ex = &ex;
                    s.spawn(move || futures_lite::future::block_on(ex.run(stopped.recv())));
                }
                let t0 = Instant::now();
                let handles: Vec<_> = tasks.into_iter().map(|t| ex.spawn(t)).collect();
                futures_lite::future::block_on(async {
                    for h in handles {
                        h.await;
                    }
                });
                let elapsed = t0.elapsed();
                drop(stop);
                elapsed
            })
        }
        Exec::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("a tokio runtime");
            let t0 = Instant::now();
            rt.block_on(join_spawned(tasks));
            t0.elapsed()
        }
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

pub(crate) async fn join_spawned(tasks: Vec<SendTask>) {
    let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.expect("a benchmark task panicked");
    }
}

/// A minimal single-threaded executor built like embassy-executor: a waker is a pointer to
/// a task cell that lives for the whole run, cloning or dropping it costs nothing, and a
/// wake queues the task once. It stands in for firmware executors, where the executor
/// itself costs almost nothing, so what remains is the channel's own cost.
pub(crate) mod mini {
    use super::*;

    struct Task {
        future: RefCell<Option<LocalTask>>,
        queued: Cell<bool>,
        ready: *const RefCell<VecDeque<*const Task>>,
    }

    const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: every waker of this executor points at a `Task` that `run` keeps alive
        // until it returns, and the contract of `run` is that no waker is used after that
        // (all tasks have finished, and their channels are gone with them). Single thread:
        // the wakers are `!Send` in spirit, and `run` is only called with local tasks.
        let task = unsafe { &*(data as *const Task) };
        if !task.queued.replace(true) {
            // SAFETY: as above, `ready` outlives every task.
            unsafe { &*task.ready }.borrow_mut().push_back(task);
        }
    }

    unsafe fn drop_waker(_: *const ()) {}

    /// Runs `tasks` until all are done.
    ///
    /// # Panics
    ///
    /// If every task waits and none was woken: a lost wake-up in a contender.
    pub(crate) fn run(tasks: Vec<LocalTask>) {
        let ready: Box<RefCell<VecDeque<*const Task>>> =
            Box::new(RefCell::new(VecDeque::with_capacity(tasks.len() + 1)));
        let cells: Vec<Box<Task>> = tasks
            .into_iter()
            .map(|f| {
                Box::new(Task {
                    future: RefCell::new(Some(f)),
                    queued: Cell::new(true),
                    ready: &*ready,
                })
            })
            .collect();
        ready
            .borrow_mut()
            .extend(cells.iter().map(|c| &**c as *const Task));
        let mut left = cells.len();
        while left > 0 {
            let next = ready.borrow_mut().pop_front();
            let Some(task) = next else {
                panic!("mini: {left} tasks wait and none was woken (a lost wake-up)");
            };
            // SAFETY: `task` points into `cells`, alive until the end of this function.
            let task = unsafe { &*task };
            task.queued.set(false);
            // SAFETY: the waker's data is a live `Task`, and VTABLE's functions treat it as
            // one; see `wake`.
            let waker = unsafe {
                Waker::from_raw(RawWaker::new(task as *const Task as *const (), &VTABLE))
            };
            let mut cx = Context::from_waker(&waker);
            let mut slot = task.future.borrow_mut();
            if let Some(future) = slot.as_mut() {
                if future.as_mut().poll(&mut cx).is_ready() {
                    *slot = None;
                    left -= 1;
                }
            }
        }
        // Drop the tasks' leftovers while the cells and the queue are still alive.
        for cell in &cells {
            cell.future.borrow_mut().take();
        }
    }
}
