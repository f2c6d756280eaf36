#![doc = include_str!("../README.md")]
// The service itself needs no std (tower-service 0.3 links it), and the allocator for one
// box only, where it waits for a free slot: the wait's future is pinned, the service moves.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;
use rsvp::rpc::{Endpoint, ReserveFuture};
use rsvp::time::Timer;
use rsvp::{CallError, CallFuture, Caller, Permit};

/// Why a [`CallService`] call produced no response. Each variant is one of rsvp's outcomes,
/// so a tower user matches them after `downcast_ref::<ServiceError>()` on a boxed error.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ServiceError {
    /// Every reply slot was in use and the service sheds load
    /// ([`CallService::load_shed`]); without load shedding `poll_ready` waits instead.
    Full,
    /// The call's timeout ([`CallService::timeout`]) passed first.
    Timeout,
    /// The endpoint is shut down (or has no server left).
    Closed,
    /// The responder dropped the request without replying.
    Lost,
}

impl From<CallError> for ServiceError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Timeout => Self::Timeout,
            CallError::Closed => Self::Closed,
            CallError::Lost => Self::Lost,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("no free reply slot (load shed)"),
            Self::Timeout => CallError::Timeout.fmt(f),
            Self::Closed => CallError::Closed.fmt(f),
            Self::Lost => CallError::Lost.fmt(f),
        }
    }
}

impl core::error::Error for ServiceError {}

/// A caller as a `tower::Service<Req>`: responses are the endpoint's replies, errors are
/// [`ServiceError`]s.
///
/// ```
/// use tower::{Service, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let (caller, server) = rsvp_tokio::channel::<u64, u64, 8>();
/// let serving = rsvp_tokio::spawn_server(server, std::num::NonZeroUsize::MIN, |n, responder| async move {
///     let _ = responder.reply(n * 2);
/// });
///
/// let mut service = rsvp_tower::CallService::new(caller);
/// let doubled = service.ready().await.unwrap().call(21).await;
/// assert_eq!(doubled, Ok(42));
/// # drop(service);
/// # serving.await.unwrap();
/// # });
/// ```
///
/// Each clone is a service of its own (with its own reservation) over the same endpoint.
pub struct CallService<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    caller: Caller<P>,
    /// Where it waits for a free slot. A `ReserveFuture` is pinned while it waits (its entry
    /// in the endpoint's wait list is inside it) and a service moves, so it waits in a box:
    /// made at the first wait, reused by the later ones, empty between them.
    reserving: Option<Pin<Box<Option<ReserveFuture<P>>>>>,
    permit: Option<Permit<P>>,
    /// `poll_ready` found no free slot in load-shedding mode: the next `call` fails `Full`.
    overloaded: bool,
    timeout: Option<Duration>,
    shed: bool,
}

impl<P> CallService<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    /// A service that sends every request through `caller`, waiting for a free slot in
    /// `poll_ready`, with no timeout.
    pub fn new(caller: Caller<P>) -> Self {
        Self {
            caller,
            reserving: None,
            permit: None,
            overloaded: false,
            timeout: None,
            shed: false,
        }
    }

    /// Each call waits at most `timeout` for its reply (from `call`, the slot is already
    /// reserved), then fails with [`ServiceError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// `poll_ready` never waits: with no free slot it is ready anyway, and the next `call`
    /// fails at once with [`ServiceError::Full`] (tower's `LoadShed` behaviour).
    pub fn load_shed(mut self) -> Self {
        self.shed = true;
        self
    }

    /// The caller inside, for stats or `close`.
    pub fn caller(&self) -> &Caller<P> {
        &self.caller
    }
}

impl<P> Clone for CallService<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    /// A service over the same endpoint with the same settings and no reservation.
    fn clone(&self) -> Self {
        Self {
            caller: self.caller.clone(),
            reserving: None,
            permit: None,
            overloaded: false,
            timeout: self.timeout,
            shed: self.shed,
        }
    }
}

impl<P> fmt::Debug for CallService<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallService")
            .field("reserved", &self.permit.is_some())
            .field("timeout", &self.timeout)
            .field("load_shed", &self.shed)
            .finish_non_exhaustive()
    }
}

impl<P> tower_service::Service<<P::Target as Endpoint>::Req> for CallService<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
    <P::Target as Endpoint>::Clock: Timer,
{
    type Response = <P::Target as Endpoint>::Resp;
    type Error = ServiceError;
    type Future = ResponseFuture<P>;

    /// Reserves a reply slot for the next `call` (waiting for one, unless the service
    /// sheds load). Ready again at once while the reservation is unused.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Closed`] once the endpoint is shut down.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ServiceError>> {
        if self.permit.is_some() || self.overloaded {
            return Poll::Ready(Ok(()));
        }
        if self.shed {
            return Poll::Ready(match self.caller.try_reserve_owned() {
                Ok(permit) => {
                    self.permit = Some(permit);
                    Ok(())
                }
                Err(rsvp::TryCallError::Full(())) => {
                    self.overloaded = true;
                    Ok(())
                }
                Err(rsvp::TryCallError::Closed(())) => Err(ServiceError::Closed),
            });
        }
        if self.reserving.as_ref().is_none_or(|wait| wait.is_none()) {
            // Not waiting yet: first a wait on the stack, which takes a free slot at once;
            // the box for a wait that lasts is made (once per service clone) only when a call
            // has to wait, so a clone per call (`svc.clone().oneshot(req)`) allocates
            // nothing. A wait that found no slot leaves its line when dropped here, counting
            // nothing, and the boxed one takes its place.
            let first = pin!(self.caller.reserve_owned());
            if let Poll::Ready(reserved) = first.poll(cx) {
                self.permit = Some(reserved?);
                return Poll::Ready(Ok(()));
            }
        }
        let reserving = self.reserving.get_or_insert_with(|| Box::pin(None));
        if reserving.is_none() {
            reserving.set(Some(self.caller.reserve_owned()));
        }
        let wait = reserving
            .as_mut()
            .as_pin_mut()
            .expect("a wait was just put in");
        let reserved = core::task::ready!(wait.poll(cx));
        // The finished wait is dropped at once (it holds a handle to the endpoint); its box
        // stays for the next one.
        reserving.set(None);
        self.permit = Some(reserved?);
        Poll::Ready(Ok(()))
    }

    /// Sends `req` in the slot `poll_ready` reserved.
    ///
    /// # Panics
    ///
    /// If `poll_ready` did not return `Ready(Ok(()))` since the last `call`.
    fn call(&mut self, req: <P::Target as Endpoint>::Req) -> ResponseFuture<P> {
        if core::mem::take(&mut self.overloaded) {
            return ResponseFuture {
                call: None,
                early: Some(ServiceError::Full),
            };
        }
        let permit = self
            .permit
            .take()
            .expect("CallService::call without a successful poll_ready");
        let call = match self.timeout {
            Some(timeout) => permit.call_timeout(req, timeout),
            None => permit.call(req),
        };
        ResponseFuture {
            call: Some(call),
            early: None,
        }
    }
}

pin_project! {
    /// The response of one [`CallService`] call. It holds the call's [`CallFuture`] in
    /// place, so it is `!Unpin` as that is: pin it (`Box::pin`, `core::pin::pin!`) to poll
    /// it by hand.
    ///
    /// # Cancellation
    ///
    /// As rsvp's [`CallFuture`]: dropping it ends the call, frees its slot at once, and the
    /// responder sees the call cancelled.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<P>
    where
        P: Deref,
        P::Target: Endpoint,
    {
        #[pin]
        call: Option<CallFuture<P>>,
        early: Option<ServiceError>,
    }
}

impl<P> Future for ResponseFuture<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    type Output = Result<<P::Target as Endpoint>::Resp, ServiceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(error) = this.early.take() {
            return Poll::Ready(Err(error));
        }
        let call = this
            .call
            .as_mut()
            .as_pin_mut()
            .expect("ResponseFuture polled after it completed");
        let result = core::task::ready!(call.poll(cx));
        this.call.set(None);
        Poll::Ready(result.map_err(ServiceError::from))
    }
}

impl<P> fmt::Debug for ResponseFuture<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
