//! A bounded service that hands out promises: the Go seed's `AsyncService`.
//!
//! # Design
//!
//! [`PromiseService`] is a bounded job queue ([`Queue`]) whose jobs carry the [`Setter`] of
//! the promise handed to the submitter, and a [`run`](PromiseService::run) future that
//! takes jobs with at most `concurrency` in progress (the seed's `workers` semaphore) and
//! sets each promise with its handler's result.
//!
//! Nothing is lost and nobody waits forever: `submit` says `Full` and hands the request
//! back when `N` jobs are queued; a job whose handler is dropped (the run future dropped,
//! or the job failed at shutdown) drops its setter, so every waiter of that promise gets
//! [`Abandoned`](crate::promise::Abandoned).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::num::NonZeroUsize;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::TrySendError;
use crate::limits::{guarded, Guarded, Pool};
use crate::promise::{promise, Promise, Setter};
use crate::queue::{Queue, RequestQueue};
use crate::rpc::CloseMode;
use crate::sync::RawMutex;

/// The setting end of a promise the service handed out.
type PromiseSetter<T, M> = Setter<Arc<Promise<T, M>>>;
type Job<Req, Resp, M> = (Req, PromiseSetter<Resp, M>);

/// A bounded service that runs a handler on submitted requests and hands out a
/// [`Promise`] for each result; at most `N` requests wait, and at most `concurrency` run at
/// once.
///
/// ```
/// use std::num::NonZeroUsize;
/// use rsvp::lock::LocalMutex;
/// use rsvp::promise::PromiseService;
/// use rsvp::CloseMode;
///
/// # futures_executor::block_on(async {
/// let service = PromiseService::<u64, u64, LocalMutex, 8>::new();
/// let squares: Vec<_> = (1..=5).map(|n| service.submit(n * 10).unwrap()).collect();
/// service.close(CloseMode::Drain); // run stops once the queue is empty
/// let report = PromiseService::run(&service, NonZeroUsize::new(3).unwrap(), |n| async move {
///     n * n
/// })
/// .await;
/// assert_eq!(report.finished, 5);
/// assert_eq!(squares[1].wait().await, Ok(400));
/// # });
/// ```
pub struct PromiseService<Req, Resp, M: RawMutex, const N: usize> {
    jobs: Queue<M, Job<Req, Resp, M>, N>,
}

impl<Req, Resp, M: RawMutex, const N: usize> PromiseService<Req, Resp, M, N> {
    /// An open service with room for `N` waiting requests.
    pub const fn new() -> Self {
        Self { jobs: Queue::new() }
    }

    /// Queues `req` and returns the promise of its result, without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when `N` requests are already waiting (backpressure), or
    /// [`TrySendError::Closed`] after [`close`](Self::close); the request is handed back.
    #[allow(clippy::type_complexity)]
    pub fn submit(&self, req: Req) -> Result<Arc<Promise<Resp, M>>, TrySendError<Req>> {
        let (setter, promise) = promise();
        match self.jobs.try_send((req, setter)) {
            Ok(()) => Ok(promise),
            // The setter dropped here abandons a promise that nobody has seen.
            Err(TrySendError::Full((req, _))) => Err(TrySendError::Full(req)),
            Err(TrySendError::Closed((req, _))) => Err(TrySendError::Closed(req)),
        }
    }

    /// Stops accepting requests. With [`CloseMode::Fail`] the waiting requests are dropped
    /// and their promises abandoned; with [`CloseMode::Drain`] a running
    /// [`run`](Self::run) still handles them. Returns how many were dropped.
    pub fn close(&self, mode: CloseMode) -> usize {
        self.jobs.close();
        let mut dropped = 0;
        if mode == CloseMode::Fail {
            while let Ok(job) = self.jobs.try_recv() {
                drop(job);
                dropped += 1;
            }
        }
        dropped
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    /// Requests waiting to run.
    pub fn queued(&self) -> usize {
        self.jobs.len()
    }

    /// Runs `handler` on each submitted request, at most `concurrency` at once, and sets
    /// each request's promise to the result. Returns once the service is closed and every
    /// request taken has finished.
    ///
    /// With `std`, a handler that panics (when called, while its future is polled or when
    /// it is dropped) ends only its own job: the panic is caught, the job's promise is
    /// abandoned (its waiters get `Abandoned`), and `run` goes on with the other jobs.
    /// Without `std` a panic is not caught: it ends the firmware as its panic handler
    /// decides.
    ///
    /// # Cancellation
    ///
    /// Dropping the future drops the handlers in progress: their promises are abandoned.
    /// Waiting requests stay queued for the next `run`.
    ///
    /// `service` is any pointer to the service (`&PromiseService`, `Rc`, `Arc`, a
    /// `&'static`); the future keeps it, so with an owning pointer it can be spawned as it is.
    pub fn run<S, F, Fut>(service: S, concurrency: NonZeroUsize, handler: F) -> RunFuture<S, F, Fut>
    where
        S: Deref<Target = Self>,
        F: FnMut(Req) -> Fut,
        Fut: Future<Output = Resp>,
    {
        RunFuture {
            service,
            handler,
            pool: Pool::new(concurrency),
        }
    }
}

impl<Req, Resp, M: RawMutex, const N: usize> Default for PromiseService<Req, Resp, M, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req, Resp, M: RawMutex, const N: usize> fmt::Debug for PromiseService<Req, Resp, M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseService")
            .field("jobs", &self.jobs)
            .finish()
    }
}

/// What a [`run`](PromiseService::run) did, returned when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct RunReport {
    /// Requests taken from the queue.
    pub received: u64,
    /// Handlers that finished and set their promise.
    pub finished: u64,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "took {} jobs, finished {}", self.received, self.finished)
    }
}

/// One job in progress: the handler's future and the setter of its promise.
struct Settle<Fut: Future, M: RawMutex> {
    work: Pin<Box<Fut>>,
    setter: Option<PromiseSetter<Fut::Output, M>>,
}

impl<Fut: Future, M: RawMutex> Future for Settle<Fut, M> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let value = core::task::ready!(self.work.as_mut().poll(cx));
        if let Some(setter) = self.setter.take() {
            // Refused only if someone set the promise through its `Arc` first: the first
            // value wins, and the handler's is dropped.
            let _ = setter.set(value);
        }
        Poll::Ready(())
    }
}

/// The future of [`PromiseService::run`].
///
/// # Cancellation
///
/// See [`PromiseService::run`].
#[must_use = "futures do nothing unless polled"]
pub struct RunFuture<S, F, Fut>
where
    S: Deref,
    S::Target: Service,
    Fut: Future,
{
    service: S,
    handler: F,
    pool: Pool<Guarded<Settle<Fut, <S::Target as Service>::Mutex>>>,
}

// The handler is only called through `&mut` and the jobs are boxed: nothing here is pinned.
impl<S, F, Fut> Unpin for RunFuture<S, F, Fut>
where
    S: Deref,
    S::Target: Service,
    Fut: Future,
{
}

/// Names a [`PromiseService`]'s lock for [`RunFuture`]; implemented by `PromiseService`
/// only.
pub trait Service: sealed::Sealed {
    /// The service's lock.
    type Mutex: RawMutex;
}

mod sealed {
    pub trait Sealed {}
}

impl<Req, Resp, M: RawMutex, const N: usize> sealed::Sealed for PromiseService<Req, Resp, M, N> {}

impl<Req, Resp, M: RawMutex, const N: usize> Service for PromiseService<Req, Resp, M, N> {
    type Mutex = M;
}

impl<S, F, Fut, Req, Resp, M, const N: usize> Future for RunFuture<S, F, Fut>
where
    S: Deref<Target = PromiseService<Req, Resp, M, N>>,
    M: RawMutex,
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Resp>,
{
    type Output = RunReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RunReport> {
        let this = self.get_mut();
        let (jobs, handler) = (&this.service.jobs, &mut this.handler);
        core::task::ready!(this.pool.poll(
            cx,
            |cx| jobs.poll_recv(cx),
            |(req, setter)| guarded(|| Settle {
                work: Box::pin(handler(req)),
                setter: Some(setter),
            }),
        ));
        Poll::Ready(RunReport {
            received: this.pool.received,
            finished: this.pool.finished,
        })
    }
}

impl<S, F, Fut> fmt::Debug for RunFuture<S, F, Fut>
where
    S: Deref,
    S::Target: Service,
    Fut: Future,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunFuture")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    extern crate std;

    use super::*;
    use crate::promise::WaitError;
    use crate::sync::LocalMutex;
    use crate::time::ManualClock;
    use core::cell::Cell;
    use core::time::Duration;
    use futures_executor::LocalPool;
    use futures_util::task::LocalSpawnExt;
    use std::rc::Rc;

    type Service<const N: usize> = PromiseService<u32, u32, LocalMutex, N>;

    #[test]
    fn never_more_than_the_concurrency_limit_run_at_once() {
        let service = Rc::new(Service::<16>::new());
        let promises: std::vec::Vec<_> = (0..10).map(|n| service.submit(n).unwrap()).collect();
        let (running, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let gate = Rc::new(Promise::<(), LocalMutex>::new());
        let mut pool = LocalPool::new();
        let (r, p, g) = (running.clone(), peak.clone(), gate.clone());
        let report = Rc::new(Cell::new(None));
        let out = report.clone();
        let s = service.clone();
        pool.spawner()
            .spawn_local(async move {
                let report = PromiseService::run(s, NonZeroUsize::new(3).unwrap(), move |n| {
                    let (r, p, g) = (r.clone(), p.clone(), g.clone());
                    async move {
                        r.set(r.get() + 1);
                        p.set(p.get().max(r.get()));
                        g.wait().await.unwrap();
                        r.set(r.get() - 1);
                        n * n
                    }
                })
                .await;
                out.set(Some(report));
            })
            .unwrap();
        pool.run_until_stalled();
        assert_eq!(running.get(), 3, "three workers busy, the rest wait");
        assert_eq!(service.queued(), 7);
        assert!(promises.iter().all(|p| !p.is_ready()));
        gate.set(()).unwrap();
        service.close(CloseMode::Drain);
        pool.run_until_stalled();
        assert_eq!(peak.get(), 3);
        for (n, promise) in (0u32..).zip(&promises) {
            assert_eq!(promise.try_get(), Ok(n * n));
        }
        assert_eq!(
            report.get(),
            Some(RunReport {
                received: 10,
                finished: 10
            })
        );
    }

    #[test]
    fn full_hands_the_request_back_and_closed_refuses() {
        let service = Service::<2>::new();
        service.submit(1).unwrap();
        service.submit(2).unwrap();
        assert!(matches!(service.submit(3), Err(TrySendError::Full(3))));
        service.close(CloseMode::Drain);
        assert!(matches!(service.submit(4), Err(TrySendError::Closed(4))));
    }

    #[test]
    fn fail_close_abandons_waiting_promises() {
        let service = Service::<4>::new();
        let a = service.submit(1).unwrap();
        let b = service.submit(2).unwrap();
        assert_eq!(service.close(CloseMode::Fail), 2);
        assert!(a.is_abandoned() && b.is_abandoned());
        assert!(matches!(
            futures_executor::block_on(a.wait()),
            Err(WaitError::Abandoned)
        ));
    }

    #[test]
    fn dropping_run_abandons_the_jobs_in_progress() {
        let service = Service::<4>::new();
        let promise = service.submit(5).unwrap();
        let mut pool = LocalPool::new();
        let handle = pool.spawner();
        let mut run = Box::pin(PromiseService::run(
            &service,
            NonZeroUsize::MIN,
            |n| async move {
                futures_util::future::pending::<()>().await;
                n
            },
        ));
        let waker = futures_util::task::noop_waker();
        assert!(run
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(run);
        drop(handle);
        assert!(promise.is_abandoned());
        pool.run_until_stalled();
    }

    #[test]
    fn a_slow_job_times_out_for_its_waiter_and_still_completes() {
        // The seed's "Testing timeout...": GetWithTimeout(50ms) on a job that takes longer.
        let clock = ManualClock::new();
        let service = Rc::new(Service::<4>::new());
        let promise = service.submit(100).unwrap();
        let job_clock = clock.clone();
        let mut pool = LocalPool::new();
        let s = service.clone();
        pool.spawner()
            .spawn_local(async move {
                PromiseService::run(s, NonZeroUsize::MIN, move |n| {
                    let clock = job_clock.clone();
                    async move {
                        crate::time::Timer::sleep_until(
                            &clock,
                            clock.after(Duration::from_millis(150)),
                        )
                        .await;
                        n * n
                    }
                })
                .await;
            })
            .unwrap();
        let waited = Rc::new(Cell::new(None));
        let (w, p, c) = (waited.clone(), promise.clone(), clock.clone());
        pool.spawner()
            .spawn_local(async move {
                w.set(Some(p.wait_timeout(&c, Duration::from_millis(50)).await));
            })
            .unwrap();
        pool.run_until_stalled();
        clock.advance(Duration::from_millis(50));
        pool.run_until_stalled();
        assert_eq!(waited.get(), Some(Err(WaitError::Timeout)));
        clock.advance(Duration::from_millis(100));
        pool.run_until_stalled();
        assert_eq!(
            promise.try_get(),
            Ok(10_000),
            "the job itself still finishes"
        );
    }
}
