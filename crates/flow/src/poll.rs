//! The polling state machine (RFC 8628 §3.4–3.5), with no I/O of its own.
//!
//! The driver asks [`Poller::first_wait`], sleeps, polls, and hands the classified answer to
//! [`Poller::on_reply`] (or a transport failure to [`Poller::on_transport_error`]). Each call
//! returns a [`Step`]: wait this long and poll again, or stop with tokens or a distinct failure.
//! Once a step is `Done` the poller refuses to schedule anything else: a device code that already
//! produced tokens must never be sent again (a real server revokes the grant when it comes back).

use crate::error::FlowError;
use crate::response::{DeviceAuthorization, TokenReply, TokenResponse};
use std::time::{Duration, Instant};

/// Ceiling for the exponential back-off after faults.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server's `Retry-After` is honoured up to this bound.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// `slow_down` without a new interval adds this (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// However often a server says `slow_down`, polls are never further apart than this.
pub const MAX_INTERVAL: Duration = Duration::from_secs(crate::response::MAX_INTERVAL);

#[derive(Debug)]
pub enum Step {
    /// Wait this long, then poll again.
    Wait(Duration),
    /// The flow is over.
    Done(Result<TokenResponse, FlowError>),
}

/// What happened on one poll, for progress reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollEvent {
    Pending,
    SlowDown { interval: Duration },
    Fault { what: String, retry_in: Duration },
}

#[derive(Debug)]
pub struct Poller {
    interval: Duration,
    deadline: Instant,
    faults: u32,
    last_fault: Option<String>,
    finished: bool,
    last_event: Option<PollEvent>,
}

impl Poller {
    /// Start polling for `auth`, received at `received_at`. The local deadline is `expires_in`
    /// from receipt: some servers never say `expired_token` and keep answering "pending".
    pub fn new(auth: &DeviceAuthorization, received_at: Instant) -> Poller {
        Poller {
            interval: Duration::from_secs(auth.interval.clamp(1, crate::response::MAX_INTERVAL)),
            deadline: received_at
                + Duration::from_secs(auth.expires_in.min(crate::response::MAX_DEVICE_EXPIRES_IN)),
            faults: 0,
            last_fault: None,
            finished: false,
            last_event: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// What the last reply meant (for progress output).
    pub fn last_event(&self) -> Option<&PollEvent> {
        self.last_event.as_ref()
    }

    /// RFC 8628 §3.5: wait one interval before the first poll.
    pub fn first_wait(&mut self, now: Instant) -> Step {
        self.schedule(self.interval, now)
    }

    pub fn on_reply(&mut self, reply: TokenReply, now: Instant) -> Step {
        if self.finished {
            return self.already_finished();
        }
        match reply {
            TokenReply::Tokens(t) => self.finish(Ok(t)),
            TokenReply::Error(e) => match e.code.as_str() {
                "authorization_pending" => {
                    self.faults = 0;
                    self.last_event = Some(PollEvent::Pending);
                    self.schedule(self.interval, now)
                }
                "slow_down" => {
                    self.faults = 0;
                    self.interval = match e.interval {
                        // GitHub sends the new interval (already previous + 5): use it.
                        Some(i) if i > 0 => Duration::from_secs(i).max(self.interval),
                        _ => self.interval.saturating_add(SLOW_DOWN_STEP),
                    }
                    .min(MAX_INTERVAL);
                    self.last_event = Some(PollEvent::SlowDown {
                        interval: self.interval,
                    });
                    self.schedule(self.interval, now)
                }
                // Normally classified as transient already; a busy server never ends the flow.
                _ if e.is_transient() => {
                    let what = format!("the provider answered {}", e.code);
                    self.fault(what, None, now)
                }
                _ => {
                    let past = now >= self.deadline;
                    self.finish(Err(FlowError::from_oauth(&e, past)))
                }
            },
            TokenReply::Transient {
                what,
                retry_after,
                rate_limited,
            } => {
                if rate_limited {
                    // 429 without an OAuth body: treat it as slow_down as well as a fault.
                    self.interval = self
                        .interval
                        .saturating_add(SLOW_DOWN_STEP)
                        .min(MAX_INTERVAL);
                }
                self.fault(what, retry_after, now)
            }
        }
    }

    /// Connection refused, reset, timed out, body too large: back off and keep going.
    pub fn on_transport_error(&mut self, what: String, now: Instant) -> Step {
        if self.finished {
            return self.already_finished();
        }
        self.fault(what, None, now)
    }

    fn fault(&mut self, what: String, retry_after: Option<Duration>, now: Instant) -> Step {
        self.faults = self.faults.saturating_add(1);
        let factor = 1u32 << self.faults.min(16);
        let mut wait = self.interval.saturating_mul(factor).min(MAX_BACKOFF);
        if let Some(ra) = retry_after {
            wait = wait.max(ra.min(MAX_RETRY_AFTER));
        }
        self.last_fault = Some(what.clone());
        self.last_event = Some(PollEvent::Fault {
            what,
            retry_in: wait,
        });
        self.schedule(wait, now)
    }

    /// Wait before the next poll, but never past the deadline: the last poll lands on it, so a
    /// server that tracks expiry gets to say `expired_token` itself. At or after the deadline
    /// the flow ends — as a network failure if the last answers were faults, else as expired.
    fn schedule(&mut self, wait: Duration, now: Instant) -> Step {
        if now >= self.deadline {
            let err = match (self.faults, &self.last_fault) {
                (n, Some(f)) if n > 0 => FlowError::Unreachable(format!(
                    "the provider could not be reached reliably before the code expired (last error: {f})"
                )),
                _ => FlowError::Expired,
            };
            return self.finish(Err(err));
        }
        Step::Wait(wait.min(self.deadline - now))
    }

    fn finish(&mut self, r: Result<TokenResponse, FlowError>) -> Step {
        self.finished = true;
        Step::Done(r)
    }

    fn already_finished(&self) -> Step {
        Step::Done(Err(FlowError::Malformed(
            "internal: the device flow already finished; refusing to poll again".into(),
        )))
    }
}
