//! Client retries by the gRPC retry policy (gRFC A6), as decisions without
//! IO: which failed attempts are tried again, after how long, and when a
//! call may no longer be retried.
//!
//! * [`RetryPolicy`]: `maxAttempts` (capped at 5), `initialBackoff`,
//!   `maxBackoff`, `backoffMultiplier`, `retryableStatusCodes`, validated
//!   as the service config requires.
//! * [`RetryConfig`]: the policy of every method of a channel, with
//!   per-service and per-method overrides (the service config's
//!   `methodConfig` names), and the channel's [`RetryThrottle`].
//! * [`Retrier`]: a channel's retries, for every runtime: the config,
//!   the throttle its calls share, and the generator of the jitter.
//! * [`RetryState`]: one call's attempts. The runtime reports what
//!   happened (response headers, request bytes buffered, a status) and is
//!   told whether and when to try again. The jitter of the backoff is
//!   randomness, so it is an input ([`Entropy`]), like time.
//!
//! * [`ReplayBuffer`]: the request messages a client- or bidi-streaming
//!   call has sent, kept (by [`Retrier::on_send`]) so that a new attempt
//!   can send them again before the call goes on live.
//!
//! A call is *committed* — never retried again — once response headers
//! arrive (a trailers-only response does not commit it; headers come
//! before any response message reaches the caller) or once the request
//! it would have to replay outgrows the retry buffer: the call's own
//! (256 KiB by default) or the channel's, shared by all its calls
//! (16 MiB by default). Attempts
//! the server never processed (REFUSED_STREAM, streams above a GOAWAY's
//! last id, a connection that never took the request) are retried
//! transparently, without counting against the policy.

use crate::hedging::{Hedging, HedgingPolicy};
use crate::status::{Code, Status};
use bytes::Bytes;
use http::HeaderMap;
use std::time::Duration;
use wirestate_machine::Entropy;

/// The request metadata that tells the server how many attempts of this
/// call came before (sent on the second attempt and later).
pub const GRPC_PREVIOUS_RPC_ATTEMPTS: &str = "grpc-previous-rpc-attempts";

/// The trailing metadata in which a server tells the client when to retry
/// (milliseconds), or not to retry at all (a negative or malformed value).
pub const GRPC_RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";

/// The most attempts a policy may ask for: larger `maxAttempts` values are
/// lowered to it, as the specification requires.
pub const MAX_ATTEMPTS_CAP: u32 = 5;

/// How many request bytes a call may buffer for replay before it is
/// committed (the gRPC default per-RPC retry buffer, 256 KiB).
pub const DEFAULT_RETRY_BUFFER_SIZE: usize = 256 << 10;

/// How many request bytes all the calls of a channel may buffer for
/// replay together (grpc-java's default channel retry buffer, 16 MiB): a
/// call that would go past it is committed instead.
pub const DEFAULT_CHANNEL_RETRY_BUFFER_SIZE: usize = 16 << 20;

/// How many times an attempt the server never processed is retried
/// transparently by default.
pub const DEFAULT_TRANSPARENT_RETRIES: u32 = 1;

/// A retry policy or throttle that the service config rules refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryPolicyError {
    /// `maxAttempts` must be at least 2 (one retry).
    #[error("maxAttempts must be greater than 1, got {0}")]
    MaxAttempts(u32),
    /// `initialBackoff` must be greater than zero.
    #[error("initialBackoff must be greater than zero")]
    InitialBackoff,
    /// `maxBackoff` must be greater than zero.
    #[error("maxBackoff must be greater than zero")]
    MaxBackoff,
    /// `backoffMultiplier` must be a finite number greater than zero.
    #[error("backoffMultiplier must be greater than zero")]
    Multiplier,
    /// `retryableStatusCodes` must name at least one code, and not OK.
    #[error("retryableStatusCodes must be non-empty and must not hold OK")]
    RetryableCodes,
    /// `nonFatalStatusCodes` must not hold OK (an OK status always ends a
    /// hedged call).
    #[error("nonFatalStatusCodes must not hold OK")]
    NonFatalCodes,
    /// `maxTokens` must be in 1..=1000.
    #[error("retryThrottling maxTokens must be in 1..=1000, got {0}")]
    MaxTokens(u32),
    /// `tokenRatio` must be a finite number greater than zero.
    #[error("retryThrottling tokenRatio must be greater than zero")]
    TokenRatio,
}

/// When and how often a failed call is tried again (the service config's
/// `retryPolicy`).
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::Code;
/// use wirestate_grpc::retry::RetryPolicy;
///
/// let policy = RetryPolicy::new(
///     4,
///     Duration::from_millis(100),
///     Duration::from_secs(1),
///     2.0,
///     [Code::Unavailable],
/// )
/// .unwrap();
/// // The delay before retry n is drawn from [0, min(100 ms * 2^(n-1), 1 s)).
/// assert_eq!(policy.backoff_ceiling(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    backoff_multiplier: f64,
    retryable_codes: Vec<Code>,
}

impl RetryPolicy {
    /// A validated policy: `max_attempts` (the first attempt included) at
    /// least 2 and lowered to [`MAX_ATTEMPTS_CAP`]; both backoffs and the
    /// multiplier greater than zero; at least one retryable code, not OK.
    ///
    /// # Errors
    ///
    /// The first rule the values break.
    pub fn new(
        max_attempts: u32,
        initial_backoff: Duration,
        max_backoff: Duration,
        backoff_multiplier: f64,
        retryable_codes: impl IntoIterator<Item = Code>,
    ) -> Result<RetryPolicy, RetryPolicyError> {
        if max_attempts < 2 {
            return Err(RetryPolicyError::MaxAttempts(max_attempts));
        }
        if initial_backoff.is_zero() {
            return Err(RetryPolicyError::InitialBackoff);
        }
        if max_backoff.is_zero() {
            return Err(RetryPolicyError::MaxBackoff);
        }
        if !(backoff_multiplier.is_finite() && backoff_multiplier > 0.0) {
            return Err(RetryPolicyError::Multiplier);
        }
        let mut codes: Vec<Code> = retryable_codes.into_iter().collect();
        codes.sort_unstable();
        codes.dedup();
        if codes.is_empty() || codes.contains(&Code::Ok) {
            return Err(RetryPolicyError::RetryableCodes);
        }
        Ok(RetryPolicy {
            max_attempts: max_attempts.min(MAX_ATTEMPTS_CAP),
            initial_backoff,
            max_backoff,
            backoff_multiplier,
            retryable_codes: codes,
        })
    }

    /// The most attempts of one call, the first included (at most 5).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether a failure with `code` may be retried.
    pub fn is_retryable(&self, code: Code) -> bool {
        self.retryable_codes.contains(&code)
    }

    /// The upper bound of the delay before retry `n` (1 for the first)
    /// since the start or the last server pushback:
    /// `min(initialBackoff * backoffMultiplier^(n-1), maxBackoff)`.
    pub fn backoff_ceiling(&self, n: u32) -> Duration {
        let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.backoff_multiplier.powi(exp);
        // An overflow (inf) or a multiplier below 1 driving it to zero are
        // both fine: the cap and `try_from_secs_f64` bound the result.
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// The channel's retry throttle (`retryThrottling`): failures drain
/// tokens, successes refill them by `tokenRatio`, and retries stop while
/// no more than half of `maxTokens` is left, so a failing server is not
/// buried under retries.
///
/// Tokens are counted in thousandths, as the specification keeps three
/// decimals of `tokenRatio`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryThrottle {
    max: u32,
    ratio: u32,
    tokens: u32,
}

impl RetryThrottle {
    /// A full throttle of `max_tokens` (1..=1000) refilled by
    /// `token_ratio` (> 0, three decimals kept) per successful call.
    ///
    /// # Errors
    ///
    /// Out-of-range values.
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<RetryThrottle, RetryPolicyError> {
        if !(1..=1000).contains(&max_tokens) {
            return Err(RetryPolicyError::MaxTokens(max_tokens));
        }
        if !(token_ratio.is_finite() && token_ratio > 0.0) {
            return Err(RetryPolicyError::TokenRatio);
        }
        // Three decimals; a ratio of 1000 or more refills at once anyway.
        let ratio = (token_ratio.min(1000.0) * 1000.0).round() as u32;
        if ratio == 0 {
            return Err(RetryPolicyError::TokenRatio);
        }
        let max = max_tokens * 1000;
        Ok(RetryThrottle {
            max,
            ratio,
            tokens: max,
        })
    }

    /// A successful call: `tokenRatio` tokens back, up to `maxTokens`.
    pub fn on_success(&mut self) {
        self.tokens = self.tokens.saturating_add(self.ratio).min(self.max);
    }

    /// A failed attempt (a retryable code, or a pushback saying stop):
    /// one token less.
    pub fn on_failure(&mut self) {
        self.tokens = self.tokens.saturating_sub(1000);
    }

    /// Whether retries are allowed: more than half the tokens are left.
    pub fn allows_retry(&self) -> bool {
        self.tokens > self.max / 2
    }

    /// The tokens left.
    pub fn tokens(&self) -> f64 {
        f64::from(self.tokens) / 1000.0
    }
}

/// The retry settings of a channel: a default policy for every method,
/// per-service and per-method overrides (the most specific wins, as with
/// the service config's `methodConfig` names), and an optional throttle.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::Code;
/// use wirestate_grpc::retry::{RetryConfig, RetryPolicy};
///
/// let unavailable = RetryPolicy::new(
///     3, Duration::from_millis(50), Duration::from_millis(500), 2.0, [Code::Unavailable],
/// ).unwrap();
/// let config = RetryConfig::new()
///     .with_service("grpc.testing.TestService", unavailable.clone())
///     .without_method("/grpc.testing.TestService/UnaryCall");
/// assert!(config.policy_for("/grpc.testing.TestService/EmptyCall").is_some());
/// assert!(config.policy_for("/grpc.testing.TestService/UnaryCall").is_none());
/// assert!(config.policy_for("/other.Service/Call").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryConfig {
    default: Option<MethodPolicy>,
    services: Vec<(String, Option<MethodPolicy>)>,
    methods: Vec<(String, Option<MethodPolicy>)>,
    throttle: Option<RetryThrottle>,
    buffer_size: Option<usize>,
    channel_buffer_size: Option<usize>,
}

impl From<RetryPolicy> for RetryConfig {
    fn from(policy: RetryPolicy) -> RetryConfig {
        RetryConfig::new().with_default(policy)
    }
}

impl From<HedgingPolicy> for RetryConfig {
    fn from(policy: HedgingPolicy) -> RetryConfig {
        RetryConfig::new().with_default_hedging(policy)
    }
}

/// What a method's failed or slow calls get: sequential retries or
/// hedged attempts (a service config's method config has one or the
/// other, `retryPolicy` or `hedgingPolicy`).
#[derive(Debug, Clone, PartialEq)]
pub enum MethodPolicy {
    /// Retried after a failure ([`RetryPolicy`]).
    Retry(RetryPolicy),
    /// Hedged: more attempts started while the first ones are pending
    /// ([`HedgingPolicy`]).
    Hedging(HedgingPolicy),
}

impl MethodPolicy {
    /// The retry policy, if that is what it is.
    pub fn retry(&self) -> Option<&RetryPolicy> {
        match self {
            MethodPolicy::Retry(p) => Some(p),
            MethodPolicy::Hedging(_) => None,
        }
    }

    /// The hedging policy, if that is what it is.
    pub fn hedging(&self) -> Option<&HedgingPolicy> {
        match self {
            MethodPolicy::Hedging(p) => Some(p),
            MethodPolicy::Retry(_) => None,
        }
    }
}

impl RetryConfig {
    /// No retries (only the transparent ones).
    pub fn new() -> RetryConfig {
        RetryConfig::default()
    }

    /// The policy of every method without a more specific one.
    pub fn with_default(mut self, policy: RetryPolicy) -> RetryConfig {
        self.default = Some(MethodPolicy::Retry(policy));
        self
    }

    /// The policy of the methods of `service` (`package.Service`).
    pub fn with_service(mut self, service: &str, policy: RetryPolicy) -> RetryConfig {
        self.services
            .push((service.to_owned(), Some(MethodPolicy::Retry(policy))));
        self
    }

    /// The policy of one method (`/package.Service/Method`).
    pub fn with_method(mut self, path: &str, policy: RetryPolicy) -> RetryConfig {
        self.methods
            .push((path.to_owned(), Some(MethodPolicy::Retry(policy))));
        self
    }

    /// Hedging for every method without a more specific policy (it
    /// replaces a default retry policy: a method has one or the other).
    pub fn with_default_hedging(mut self, policy: HedgingPolicy) -> RetryConfig {
        self.default = Some(MethodPolicy::Hedging(policy));
        self
    }

    /// Hedging for the methods of `service` (`package.Service`).
    pub fn with_service_hedging(mut self, service: &str, policy: HedgingPolicy) -> RetryConfig {
        self.services
            .push((service.to_owned(), Some(MethodPolicy::Hedging(policy))));
        self
    }

    /// Hedging for one method (`/package.Service/Method`).
    pub fn with_method_hedging(mut self, path: &str, policy: HedgingPolicy) -> RetryConfig {
        self.methods
            .push((path.to_owned(), Some(MethodPolicy::Hedging(policy))));
        self
    }

    /// No retries nor hedging for one method (`/package.Service/Method`),
    /// whatever its service's or the default policy: for methods that are
    /// not safe to run twice.
    pub fn without_method(mut self, path: &str) -> RetryConfig {
        self.methods.push((path.to_owned(), None));
        self
    }

    /// Sets the policy (or none) of the default, a service (`Some(s)`,
    /// no method) or a method (`/s/m`), for the service config's parser.
    pub(crate) fn set_scope(
        &mut self,
        service: Option<&str>,
        method: Option<&str>,
        policy: Option<MethodPolicy>,
    ) {
        match (service, method) {
            (Some(s), Some(m)) => self.methods.push((format!("/{s}/{m}"), policy)),
            (Some(s), None) => self.services.push((s.to_owned(), policy)),
            (None, _) => self.default = policy,
        }
    }

    /// Throttles retries channel-wide (see [`RetryThrottle`]).
    pub fn with_throttle(mut self, throttle: RetryThrottle) -> RetryConfig {
        self.throttle = Some(throttle);
        self
    }

    /// How many request bytes a call may buffer for replay before it is
    /// committed. Default [`DEFAULT_RETRY_BUFFER_SIZE`].
    pub fn with_buffer_size(mut self, bytes: usize) -> RetryConfig {
        self.buffer_size = Some(bytes);
        self
    }

    /// How many request bytes all the calls of the channel may buffer for
    /// replay together; a call that would go past it is committed.
    /// Default [`DEFAULT_CHANNEL_RETRY_BUFFER_SIZE`].
    pub fn with_channel_buffer_size(mut self, bytes: usize) -> RetryConfig {
        self.channel_buffer_size = Some(bytes);
        self
    }

    /// The retry policy that applies to `path` (`/package.Service/Method`),
    /// if any: the method's, else its service's, else the default (none
    /// if that is a hedging policy).
    pub fn policy_for(&self, path: &str) -> Option<&RetryPolicy> {
        self.method_policy(path).and_then(MethodPolicy::retry)
    }

    /// The hedging policy that applies to `path`, if any (as
    /// [`policy_for`](Self::policy_for)).
    pub fn hedging_for(&self, path: &str) -> Option<&HedgingPolicy> {
        self.method_policy(path).and_then(MethodPolicy::hedging)
    }

    /// The policy, retry or hedging, that applies to `path`
    /// (`/package.Service/Method`), if any: the method's, else its
    /// service's, else the default.
    pub fn method_policy(&self, path: &str) -> Option<&MethodPolicy> {
        if let Some((_, p)) = self.methods.iter().rev().find(|(m, _)| m == path) {
            return p.as_ref();
        }
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.rsplit_once('/'))
            .map(|(s, _)| s);
        if let Some(service) = service
            && let Some((_, p)) = self.services.iter().rev().find(|(s, _)| s == service)
        {
            return p.as_ref();
        }
        self.default.as_ref()
    }

    /// A fresh copy of the configured throttle (the channel keeps one and
    /// shares it between its calls).
    pub fn throttle(&self) -> Option<RetryThrottle> {
        self.throttle.clone()
    }

    /// The retry buffer size of a call.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size.unwrap_or(DEFAULT_RETRY_BUFFER_SIZE)
    }

    /// The retry buffer size the calls of a channel share.
    pub fn channel_buffer_size(&self) -> usize {
        self.channel_buffer_size
            .unwrap_or(DEFAULT_CHANNEL_RETRY_BUFFER_SIZE)
    }

    /// The state of a new call to `path` (no retry policy for a hedged
    /// method: only transparent retries; see [`crate::hedging`]).
    pub fn start(&self, path: &str) -> RetryState {
        RetryState::new(self.policy_for(path).cloned()).with_buffer_size(self.buffer_size())
    }
}

/// How a unary or server-streaming call was tried, kept until it ends
/// so that the channel's throttle counts its outcome once.
#[derive(Debug, Clone)]
pub enum CallPolicy {
    /// Attempt after attempt (a retry policy, or none).
    Retried(RetryState),
    /// Attempts side by side (a hedging policy).
    Hedged(Hedging),
}

impl CallPolicy {
    /// The committed call ended with `status`: counted by the channel's
    /// throttle (once, however often this is called).
    pub fn on_end<E: Entropy>(&mut self, retrier: &mut Retrier<E>, status: &Status) {
        match self {
            CallPolicy::Retried(state) => {
                let _ = retrier.decide(state, status, None);
            }
            CallPolicy::Hedged(hedge) => hedge.on_end(status, retrier.throttle_mut()),
        }
    }
}

/// The server's pushback in a response's trailers
/// ([`GRPC_RETRY_PUSHBACK_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushback {
    /// Retry after exactly this long.
    RetryAfter(Duration),
    /// Do not retry (a negative or malformed value).
    Stop,
}

/// Reads `grpc-retry-pushback-ms` from `trailers`: `None` without one.
/// A value that is not a non-negative decimal integer means "do not
/// retry", as the specification says.
pub fn parse_pushback(trailers: &HeaderMap) -> Option<Pushback> {
    let value = trailers.get(GRPC_RETRY_PUSHBACK_MS)?.as_bytes();
    let text = std::str::from_utf8(value).ok()?.trim();
    // Digits only: no sign, no spaces inside, no empty value.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Pushback::Stop);
    }
    Some(match text.parse::<u64>() {
        Ok(ms) => Pushback::RetryAfter(Duration::from_millis(ms)),
        Err(_) => Pushback::Stop,
    })
}

/// What to do after an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Start the next attempt after this delay.
    Retry(Duration),
    /// The attempt's outcome is the call's.
    Stop(StopReason),
}

/// Why a call is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The attempt succeeded.
    Succeeded,
    /// No retry policy applies to the method.
    NoPolicy,
    /// The call was committed (response headers arrived, or the request
    /// outgrew the retry buffer).
    Committed,
    /// The status code is not in the policy's retryable codes.
    NotRetryable,
    /// The server's pushback said not to retry.
    Pushback,
    /// The throttle is at or below half its tokens.
    Throttled,
    /// `maxAttempts` attempts were made.
    Exhausted,
}

/// One call's retry state: attempts made, the backoff's progress, and
/// whether the call is committed.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::{Code, Status};
/// use wirestate_grpc::retry::{RetryDecision, RetryPolicy, RetryState};
///
/// let policy = RetryPolicy::new(
///     3, Duration::from_millis(100), Duration::from_secs(1), 2.0, [Code::Unavailable],
/// ).unwrap();
/// let mut call = RetryState::new(Some(policy));
/// let mut half = |buf: &mut [u8]| buf.copy_from_slice(&(1u64 << 63).to_be_bytes());
/// let failed = Status::new(Code::Unavailable, "try again");
/// // Half of the first ceiling (100 ms): the jitter is an input.
/// assert_eq!(call.on_status(&failed, None, None, &mut half), RetryDecision::Retry(Duration::from_millis(50)));
/// assert_eq!(call.previous_attempts(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct RetryState {
    policy: Option<RetryPolicy>,
    /// Attempts started, the current one included.
    attempts: u32,
    /// Retries since the start or the last pushback (the backoff's `n`).
    since_pushback: u32,
    committed: bool,
    /// Why the call stopped, once an outcome was decided: the throttle
    /// counts every call once, however often a runtime reports its end.
    stopped: Option<StopReason>,
    buffered: usize,
    buffer_size: usize,
    transparent_left: u32,
}

impl RetryState {
    /// The state of a call under `policy` (`None`: no retries but the
    /// transparent ones), its first attempt under way.
    pub fn new(policy: Option<RetryPolicy>) -> RetryState {
        RetryState {
            policy,
            attempts: 1,
            since_pushback: 0,
            committed: false,
            stopped: None,
            buffered: 0,
            buffer_size: DEFAULT_RETRY_BUFFER_SIZE,
            transparent_left: DEFAULT_TRANSPARENT_RETRIES,
        }
    }

    /// With a retry buffer of `bytes` (see [`on_buffered`](Self::on_buffered)).
    pub fn with_buffer_size(mut self, bytes: usize) -> RetryState {
        self.buffer_size = bytes;
        self
    }

    /// With `n` transparent retries (attempts the server never processed).
    pub fn with_transparent_retries(mut self, n: u32) -> RetryState {
        self.transparent_left = n;
        self
    }

    /// How many attempts came before the current one: the value of
    /// [`GRPC_PREVIOUS_RPC_ATTEMPTS`] to send (none when 0).
    pub fn previous_attempts(&self) -> u32 {
        self.attempts - 1
    }

    /// Whether the call can no longer be retried.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Whether a policy applies to the call (else only transparent
    /// retries are possible).
    pub fn has_policy(&self) -> bool {
        self.policy.is_some()
    }

    /// The response headers arrived: the call is committed.
    pub fn on_headers(&mut self) {
        self.committed = true;
    }

    /// `bytes` more of the request were buffered for replay; past the
    /// retry buffer size the call is committed (the buffer can be freed).
    pub fn on_buffered(&mut self, bytes: usize) {
        self.buffered = self.buffered.saturating_add(bytes);
        if self.buffered > self.buffer_size {
            self.committed = true;
        }
    }

    /// Commits the call (the caller cannot replay it).
    pub fn commit(&mut self) {
        self.committed = true;
    }

    /// The attempt never reached the server's application (REFUSED_STREAM,
    /// above a GOAWAY's last stream id, a connection that refused it):
    /// whether to retry at once. Such retries do not count as attempts.
    pub fn on_unprocessed(&mut self) -> bool {
        if self.committed || self.transparent_left == 0 {
            return false;
        }
        self.transparent_left -= 1;
        true
    }

    /// The attempt ended with `status` (and `trailers`, where the server's
    /// pushback is read): whether and when to retry. `throttle` is the
    /// channel's, if it has one; `entropy` draws the backoff's jitter,
    /// uniform in `[0, ceiling)`.
    ///
    /// The throttle counts every call's outcome once, retried or not
    /// (gRFC A6): a success refills it, a failure with a retryable code
    /// (or a pushback saying stop) drains it, a committed call's too.
    /// Once a call stopped, later reports of its end change nothing.
    pub fn on_status(
        &mut self,
        status: &Status,
        trailers: Option<&HeaderMap>,
        throttle: Option<&mut RetryThrottle>,
        entropy: &mut dyn Entropy,
    ) -> RetryDecision {
        if let Some(reason) = self.stopped {
            return RetryDecision::Stop(reason);
        }
        let decision = self.decide(status, trailers, throttle, entropy);
        if let RetryDecision::Stop(reason) = decision {
            self.committed = true;
            self.stopped = Some(reason);
        }
        decision
    }

    /// [`on_status`](Self::on_status) for a call that has not stopped.
    fn decide(
        &mut self,
        status: &Status,
        trailers: Option<&HeaderMap>,
        mut throttle: Option<&mut RetryThrottle>,
        entropy: &mut dyn Entropy,
    ) -> RetryDecision {
        if status.is_ok() {
            if let Some(t) = throttle {
                t.on_success();
            }
            return RetryDecision::Stop(StopReason::Succeeded);
        }
        let Some(policy) = &self.policy else {
            return RetryDecision::Stop(if self.committed {
                StopReason::Committed
            } else {
                StopReason::NoPolicy
            });
        };
        let pushback = trailers.and_then(parse_pushback);
        let retryable = policy.is_retryable(status.code);
        // Counted whether or not the call may still be retried.
        if (retryable || pushback == Some(Pushback::Stop))
            && let Some(t) = throttle.as_deref_mut()
        {
            t.on_failure();
        }
        if self.committed {
            return RetryDecision::Stop(StopReason::Committed);
        }
        if pushback == Some(Pushback::Stop) {
            return RetryDecision::Stop(StopReason::Pushback);
        }
        if !retryable {
            return RetryDecision::Stop(StopReason::NotRetryable);
        }
        if throttle.is_some_and(|t| !t.allows_retry()) {
            return RetryDecision::Stop(StopReason::Throttled);
        }
        if self.attempts >= policy.max_attempts() {
            return RetryDecision::Stop(StopReason::Exhausted);
        }
        let delay = match pushback {
            Some(Pushback::RetryAfter(d)) => {
                // A pushback restarts the backoff from initialBackoff.
                self.since_pushback = 0;
                d
            }
            _ => {
                self.since_pushback += 1;
                jittered(policy.backoff_ceiling(self.since_pushback), entropy)
            }
        };
        self.attempts += 1;
        RetryDecision::Retry(delay)
    }
}

/// A channel's retries: its [`RetryConfig`], the [`RetryThrottle`] all its
/// calls share, and the generator `E` that draws the backoff's jitter (an
/// input: the runtime passes its own, a test a fixed one).
///
/// A channel keeps one and its calls take turns with it: a runtime that
/// runs calls concurrently puts it behind its own lock, held only for
/// [`start`](Retrier::start) and [`decide`](Retrier::decide), never while
/// a call waits.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::{Code, Status};
/// use wirestate_grpc::retry::{RetryDecision, RetryPolicy, Retrier, StopReason};
///
/// let policy = RetryPolicy::new(
///     2, Duration::from_millis(100), Duration::from_secs(1), 2.0, [Code::Unavailable],
/// ).unwrap();
/// // Jitter at a quarter of the ceiling, always.
/// let quarter = |buf: &mut [u8]| buf.copy_from_slice(&(1u64 << 62).to_be_bytes());
/// let mut retrier = Retrier::new(policy.into(), quarter);
/// let mut call = retrier.start("/demo.Pinger/Ping", 1);
/// let failed = Status::new(Code::Unavailable, "down");
/// assert_eq!(retrier.decide(&mut call, &failed, None), RetryDecision::Retry(Duration::from_millis(25)));
/// assert_eq!(retrier.decide(&mut call, &failed, None), RetryDecision::Stop(StopReason::Exhausted));
/// ```
#[derive(Clone)]
pub struct Retrier<E> {
    config: RetryConfig,
    throttle: Option<RetryThrottle>,
    entropy: E,
    /// Bytes the channel's calls hold in their [`ReplayBuffer`]s.
    buffered: usize,
}

impl<E> std::fmt::Debug for Retrier<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The generator's state is nobody's business (and rarely Debug).
        f.debug_struct("Retrier")
            .field("config", &self.config)
            .field("throttle", &self.throttle)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

impl<E: Entropy> Retrier<E> {
    /// The retries of a channel configured with `config`, drawing jitter
    /// from `entropy`; the throttle starts full.
    pub fn new(config: RetryConfig, entropy: E) -> Retrier<E> {
        Retrier {
            throttle: config.throttle(),
            config,
            entropy,
            buffered: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// The channel's throttle, if it has one, as its calls left it.
    pub fn throttle(&self) -> Option<&RetryThrottle> {
        self.throttle.as_ref()
    }

    /// The channel's throttle, for a hedged call to count its attempts
    /// ([`crate::hedging::Hedging`]).
    pub fn throttle_mut(&mut self) -> Option<&mut RetryThrottle> {
        self.throttle.as_mut()
    }

    /// A new call to `path` (`/package.Service/Method`) under its policy,
    /// with `transparent` retries for attempts the server never processed
    /// (see [`RetryState::on_unprocessed`]).
    pub fn start(&self, path: &str, transparent: u32) -> RetryState {
        self.config
            .start(path)
            .with_transparent_retries(transparent)
    }

    /// A new call to `path`: its retry state (only transparent retries
    /// for a hedged method), and its hedging policy if the method is
    /// hedged — the one lookup the runtimes make per call.
    pub fn begin(&self, path: &str, transparent: u32) -> (RetryState, Option<HedgingPolicy>) {
        let hedging = self.config.hedging_for(path).cloned();
        (self.start(path, transparent), hedging)
    }

    /// An attempt of `state`'s call ended with `status` (and `trailers`,
    /// with the server's pushback): whether and when to try again, with
    /// the channel's throttle and jitter. A committed call's final status
    /// is reported here too, so that the throttle counts it.
    pub fn decide(
        &mut self,
        state: &mut RetryState,
        status: &Status,
        trailers: Option<&HeaderMap>,
    ) -> RetryDecision {
        state.on_status(status, trailers, self.throttle.as_mut(), &mut self.entropy)
    }

    /// How many request bytes the channel's calls hold for replay.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// A streaming call (`state`) sent the request message `framed`: kept
    /// in `replay` while the call is not committed. A message that takes
    /// the call past its retry buffer, or the channel past the one its
    /// calls share, commits the call instead, and `replay` is emptied:
    /// from then on the call runs live, never to be retried.
    pub fn on_send(&mut self, state: &mut RetryState, replay: &mut ReplayBuffer, framed: &Bytes) {
        if state.is_committed() {
            return;
        }
        state.on_buffered(framed.len());
        let channel_full =
            self.buffered.saturating_add(framed.len()) > self.config.channel_buffer_size();
        if state.is_committed() || channel_full {
            self.commit(state, replay);
            return;
        }
        self.buffered += framed.len();
        replay.bytes += framed.len();
        replay.messages.push(framed.clone());
    }

    /// Commits `state`'s call (response headers arrived, or the caller
    /// was handed part of the response) and frees what it held for
    /// replay.
    pub fn commit(&mut self, state: &mut RetryState, replay: &mut ReplayBuffer) {
        state.commit();
        self.release(replay);
    }

    /// Frees what `replay` holds (the call ended, was committed or was
    /// dropped); its `closed` flag stays.
    pub fn release(&mut self, replay: &mut ReplayBuffer) {
        self.buffered = self.buffered.saturating_sub(replay.bytes);
        replay.bytes = 0;
        replay.messages = Vec::new();
    }

    /// [`decide`](Self::decide) for a streaming call: a call that is not
    /// to be retried frees its replay buffer.
    pub fn decide_streaming(
        &mut self,
        state: &mut RetryState,
        replay: &mut ReplayBuffer,
        status: &Status,
        trailers: Option<&HeaderMap>,
    ) -> RetryDecision {
        let decision = self.decide(state, status, trailers);
        if matches!(decision, RetryDecision::Stop(_)) {
            self.release(replay);
        }
        decision
    }

    /// What follows a streaming call's failed attempt, for the runtimes:
    /// the delay before the next one, or `None` when the attempt's
    /// outcome (`status`, with `trailers` for a trailers-only response)
    /// is the call's, its replay buffer freed. An attempt that never
    /// reached the server's application (`unsent`, and the transport can
    /// send it again) is retried at once without counting against the
    /// policy; else [`decide_streaming`](Self::decide_streaming) rules.
    /// No attempt is made that could only start once the call's deadline
    /// passed (`left`: the time until it, `None` without one). Whenever
    /// `None` is returned the call is committed: it keeps nothing more.
    pub fn retry_streaming(
        &mut self,
        state: &mut RetryState,
        replay: &mut ReplayBuffer,
        status: &Status,
        trailers: Option<&HeaderMap>,
        unsent: bool,
        left: Option<Duration>,
    ) -> Option<Duration> {
        let delay = if unsent && state.on_unprocessed() {
            Duration::ZERO
        } else {
            match self.decide_streaming(state, replay, status, trailers) {
                RetryDecision::Retry(delay) => delay,
                RetryDecision::Stop(_) => return None,
            }
        };
        if left.is_some_and(|left| delay >= left) {
            // The call is over: committed, so that nothing sent on it
            // later is kept.
            self.commit(state, replay);
            return None;
        }
        Some(delay)
    }
}

/// The request messages a client- or bidi-streaming call has sent so
/// far, each framed, kept while the call may still be retried: a new
/// attempt sends them again, in order (then ends its request if the
/// caller had [closed](ReplayBuffer::close) it), before the call goes on
/// live. [`Retrier::on_send`] fills it within the buffer limits;
/// [`Retrier::release`] empties it.
///
/// ```
/// use bytes::Bytes;
/// use std::time::Duration;
/// use wirestate_grpc::{Code, Status};
/// use wirestate_grpc::retry::{ReplayBuffer, RetryConfig, RetryDecision, RetryPolicy, Retrier};
///
/// let policy = RetryPolicy::new(
///     3, Duration::from_millis(100), Duration::from_secs(1), 2.0, [Code::Unavailable],
/// ).unwrap();
/// let zero = |buf: &mut [u8]| buf.fill(0);
/// let mut retrier = Retrier::new(RetryConfig::from(policy).with_buffer_size(16), zero);
/// let mut call = retrier.start("/demo.Log/Append", 1);
/// let mut replay = ReplayBuffer::new();
/// retrier.on_send(&mut call, &mut replay, &Bytes::from_static(b"\0\0\0\0\x03one"));
/// replay.close();
/// // The server said UNAVAILABLE before any response header: send it all again.
/// let down = Status::new(Code::Unavailable, "down");
/// assert!(matches!(retrier.decide_streaming(&mut call, &mut replay, &down, None), RetryDecision::Retry(_)));
/// assert_eq!(replay.messages().len(), 1);
/// assert!(replay.is_closed());
/// // 9 more bytes go past the call's 16: committed, nothing kept.
/// retrier.on_send(&mut call, &mut replay, &Bytes::from_static(b"\0\0\0\0\x04four"));
/// assert!(call.is_committed() && replay.messages().is_empty());
/// assert_eq!(retrier.buffered(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReplayBuffer {
    messages: Vec<Bytes>,
    bytes: usize,
    closed: bool,
}

impl ReplayBuffer {
    /// Nothing sent yet.
    pub fn new() -> ReplayBuffer {
        ReplayBuffer::default()
    }

    /// The messages to send again, in order.
    pub fn messages(&self) -> &[Bytes] {
        &self.messages
    }

    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The caller ended its requests: a new attempt ends its request
    /// after the replayed messages.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether the caller ended its requests.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// A delay uniform in `[0, ceiling)` from 64 random bits, in integer
/// nanoseconds so that rounding never reaches the ceiling itself.
fn jittered(ceiling: Duration, entropy: &mut dyn Entropy) -> Duration {
    let mut buf = [0u8; 8];
    entropy.fill(&mut buf);
    let random = u128::from(u64::from_be_bytes(buf));
    // ceiling * random / 2^64 without overflow: split the ceiling at 2^64.
    let c = ceiling.as_nanos();
    let nanos = (c >> 64) * random + (((c & u128::from(u64::MAX)) * random) >> 64);
    // Below the ceiling, which came from a Duration: it fits.
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn policy(max: u32) -> RetryPolicy {
        RetryPolicy::new(
            max,
            Duration::from_millis(100),
            Duration::from_millis(1000),
            2.0,
            [Code::Unavailable, Code::ResourceExhausted],
        )
        .unwrap()
    }

    /// Entropy that always gives the same 8 bytes.
    fn fixed(value: u64) -> impl FnMut(&mut [u8]) {
        move |buf: &mut [u8]| buf.copy_from_slice(&value.to_be_bytes())
    }

    fn unavailable() -> Status {
        Status::new(Code::Unavailable, "down")
    }

    fn pushback(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(GRPC_RETRY_PUSHBACK_MS, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn validation_follows_the_service_config_rules() {
        let ms = Duration::from_millis;
        let u = [Code::Unavailable];
        assert_eq!(
            RetryPolicy::new(1, ms(1), ms(1), 2.0, u),
            Err(RetryPolicyError::MaxAttempts(1))
        );
        assert_eq!(
            RetryPolicy::new(2, ms(0), ms(1), 2.0, u),
            Err(RetryPolicyError::InitialBackoff)
        );
        assert_eq!(
            RetryPolicy::new(2, ms(1), ms(0), 2.0, u),
            Err(RetryPolicyError::MaxBackoff)
        );
        for m in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                RetryPolicy::new(2, ms(1), ms(1), m, u),
                Err(RetryPolicyError::Multiplier)
            );
        }
        assert_eq!(
            RetryPolicy::new(2, ms(1), ms(1), 2.0, []),
            Err(RetryPolicyError::RetryableCodes)
        );
        assert_eq!(
            RetryPolicy::new(2, ms(1), ms(1), 2.0, [Code::Ok]),
            Err(RetryPolicyError::RetryableCodes)
        );
        assert_eq!(
            RetryThrottle::new(0, 1.0),
            Err(RetryPolicyError::MaxTokens(0))
        );
        assert_eq!(
            RetryThrottle::new(1001, 1.0),
            Err(RetryPolicyError::MaxTokens(1001))
        );
        assert_eq!(
            RetryThrottle::new(10, 0.0),
            Err(RetryPolicyError::TokenRatio)
        );
        assert_eq!(
            RetryThrottle::new(10, 0.0001),
            Err(RetryPolicyError::TokenRatio)
        );
    }

    #[test]
    fn max_attempts_is_capped_at_five() {
        let p = policy(100);
        assert_eq!(p.max_attempts(), MAX_ATTEMPTS_CAP);
        let mut call = RetryState::new(Some(p));
        let mut e = fixed(0);
        let mut retries = 0;
        while let RetryDecision::Retry(_) = call.on_status(&unavailable(), None, None, &mut e) {
            retries += 1;
        }
        assert_eq!(retries, 4);
        assert_eq!(call.previous_attempts(), 4);
    }

    #[test]
    fn backoff_grows_by_the_multiplier_up_to_the_cap() {
        let p = policy(5);
        let ceilings: Vec<u128> = (1..=6).map(|n| p.backoff_ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        // Huge exponents stay at the cap instead of overflowing.
        assert_eq!(p.backoff_ceiling(u32::MAX), Duration::from_millis(1000));
        // The largest draw is just under each ceiling.
        let mut call = RetryState::new(Some(p));
        let mut max = fixed(u64::MAX);
        for ceiling in [100, 200, 400, 800] {
            match call.on_status(&unavailable(), None, None, &mut max) {
                RetryDecision::Retry(d) => {
                    assert!(d < Duration::from_millis(ceiling), "{d:?} vs {ceiling}");
                    assert!(d > Duration::from_millis(ceiling) * 99 / 100);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn jitter_stays_within_zero_and_the_ceiling() {
        let p = policy(2);
        for value in [0, 1, 1 << 63, u64::MAX / 3, u64::MAX] {
            let mut call = RetryState::new(Some(p.clone()));
            let d = match call.on_status(&unavailable(), None, None, &mut fixed(value)) {
                RetryDecision::Retry(d) => d,
                other => panic!("{other:?}"),
            };
            assert!(d < Duration::from_millis(100), "{value}: {d:?}");
        }
        let mut call = RetryState::new(Some(p));
        assert_eq!(
            call.on_status(&unavailable(), None, None, &mut fixed(0)),
            RetryDecision::Retry(Duration::ZERO)
        );
        // The largest ceilings do not overflow the arithmetic.
        assert!(jittered(Duration::MAX, &mut fixed(u64::MAX)) < Duration::MAX);
        assert_eq!(
            jittered(Duration::from_secs(2), &mut fixed(1 << 63)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn only_retryable_codes_are_retried() {
        let mut e = fixed(0);
        for code in [Code::Internal, Code::InvalidArgument, Code::Cancelled] {
            let mut call = RetryState::new(Some(policy(3)));
            assert_eq!(
                call.on_status(&Status::new(code, "no"), None, None, &mut e),
                RetryDecision::Stop(StopReason::NotRetryable)
            );
        }
        let mut call = RetryState::new(Some(policy(3)));
        let exhausted = Status::new(Code::ResourceExhausted, "later");
        assert!(matches!(
            call.on_status(&exhausted, None, None, &mut e),
            RetryDecision::Retry(_)
        ));
        // Without a policy nothing is retried.
        let mut call = RetryState::new(None);
        assert_eq!(
            call.on_status(&unavailable(), None, None, &mut e),
            RetryDecision::Stop(StopReason::NoPolicy)
        );
        // Success stops too (a call ends once: a fresh one).
        let mut call = RetryState::new(None);
        assert_eq!(
            call.on_status(&Status::ok(), None, None, &mut e),
            RetryDecision::Stop(StopReason::Succeeded)
        );
    }

    #[test]
    fn pushback_is_honoured_and_restarts_the_backoff() {
        let mut call = RetryState::new(Some(policy(5)));
        let mut max = fixed(u64::MAX);
        // Two plain retries: ceilings 100, 200.
        for _ in 0..2 {
            assert!(matches!(
                call.on_status(&unavailable(), None, None, &mut max),
                RetryDecision::Retry(_)
            ));
        }
        // The server's delay, exactly.
        assert_eq!(
            call.on_status(&unavailable(), Some(&pushback("1234")), None, &mut max),
            RetryDecision::Retry(Duration::from_millis(1234))
        );
        // The next backoff starts over at initialBackoff.
        match call.on_status(&unavailable(), None, None, &mut max) {
            RetryDecision::Retry(d) => assert!(d < Duration::from_millis(100), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn negative_or_malformed_pushback_stops_retries() {
        for value in ["-1", "abc", "", "1.5", " -0", "99999999999999999999999"] {
            let mut call = RetryState::new(Some(policy(5)));
            assert_eq!(
                call.on_status(&unavailable(), Some(&pushback(value)), None, &mut fixed(0)),
                RetryDecision::Stop(StopReason::Pushback),
                "{value:?}"
            );
        }
        assert_eq!(parse_pushback(&HeaderMap::new()), None);
        assert_eq!(
            parse_pushback(&pushback("0")),
            Some(Pushback::RetryAfter(Duration::ZERO))
        );
    }

    #[test]
    fn committed_calls_are_never_retried() {
        let mut e = fixed(0);
        let mut call = RetryState::new(Some(policy(5)));
        call.on_headers();
        assert!(call.is_committed());
        assert_eq!(
            call.on_status(&unavailable(), None, None, &mut e),
            RetryDecision::Stop(StopReason::Committed)
        );
        assert!(!call.on_unprocessed());
        // A request larger than the retry buffer commits the call.
        let mut call = RetryState::new(Some(policy(5))).with_buffer_size(10);
        call.on_buffered(10);
        assert!(!call.is_committed());
        call.on_buffered(1);
        assert_eq!(
            call.on_status(&unavailable(), None, None, &mut e),
            RetryDecision::Stop(StopReason::Committed)
        );
    }

    #[test]
    fn transparent_retries_are_bounded_and_do_not_count() {
        let mut call = RetryState::new(Some(policy(2))).with_transparent_retries(2);
        assert!(call.on_unprocessed());
        assert!(call.on_unprocessed());
        assert!(!call.on_unprocessed());
        assert_eq!(call.previous_attempts(), 0);
        // The policy's one retry is still there.
        assert!(matches!(
            call.on_status(&unavailable(), None, None, &mut fixed(0)),
            RetryDecision::Retry(_)
        ));
    }

    #[test]
    fn throttle_stops_retries_below_half_and_refills() {
        let mut t = RetryThrottle::new(4, 0.5).unwrap();
        let mut e = fixed(0);
        // 4 tokens: the first failure leaves 3 (> 2): retried.
        let mut call = RetryState::new(Some(policy(5)));
        assert!(matches!(
            call.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Retry(_)
        ));
        // 2 left: not more than half, no retry.
        assert_eq!(
            call.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Stop(StopReason::Throttled)
        );
        assert_eq!(t.tokens(), 2.0);
        // Non-retryable failures cost nothing; successes refill by 0.5.
        let mut other = RetryState::new(Some(policy(5)));
        let _ = other.on_status(&Status::new(Code::Internal, ""), None, Some(&mut t), &mut e);
        assert_eq!(t.tokens(), 2.0);
        let mut ok = RetryState::new(Some(policy(5)));
        let _ = ok.on_status(&Status::ok(), None, Some(&mut t), &mut e);
        assert_eq!(t.tokens(), 2.5);
        assert!(t.allows_retry());
        for _ in 0..10 {
            t.on_success();
        }
        assert_eq!(t.tokens(), 4.0);
        // A pushback that says stop costs a token.
        let mut call = RetryState::new(Some(policy(5)));
        let _ = call.on_status(&unavailable(), Some(&pushback("-5")), Some(&mut t), &mut e);
        assert_eq!(t.tokens(), 3.0);
    }

    #[test]
    fn committed_calls_count_for_the_throttle_once() {
        let mut t = RetryThrottle::new(10, 0.5).unwrap();
        let mut e = fixed(0);
        // Response headers came, then UNAVAILABLE (retryable): not
        // retried, but a failure all the same (gRFC A6).
        let mut call = RetryState::new(Some(policy(5)));
        call.on_headers();
        assert_eq!(
            call.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Stop(StopReason::Committed)
        );
        assert_eq!(t.tokens(), 9.0);
        // A runtime reporting the end again changes nothing.
        assert_eq!(
            call.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Stop(StopReason::Committed)
        );
        assert_eq!(t.tokens(), 9.0);
        // Committed past the buffer: the same.
        let mut big = RetryState::new(Some(policy(5))).with_buffer_size(4);
        big.on_buffered(5);
        let _ = big.on_status(&unavailable(), None, Some(&mut t), &mut e);
        assert_eq!(t.tokens(), 8.0);
        // A committed call failing with a code the policy does not retry
        // costs nothing.
        let mut other = RetryState::new(Some(policy(5)));
        other.on_headers();
        let _ = other.on_status(&Status::new(Code::Internal, ""), None, Some(&mut t), &mut e);
        assert_eq!(t.tokens(), 8.0);
        // A call stopped on an exhausted policy is counted once, though
        // the runtime reports the status it returns again.
        let mut last = RetryState::new(Some(policy(2)));
        assert!(matches!(
            last.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Retry(_)
        ));
        assert_eq!(
            last.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Stop(StopReason::Exhausted)
        );
        assert_eq!(t.tokens(), 6.0);
        assert_eq!(
            last.on_status(&unavailable(), None, Some(&mut t), &mut e),
            RetryDecision::Stop(StopReason::Exhausted)
        );
        assert_eq!(t.tokens(), 6.0);
        // Successes, committed or not, refill once each.
        let mut ok = RetryState::new(Some(policy(5)));
        ok.on_headers();
        let _ = ok.on_status(&Status::ok(), None, Some(&mut t), &mut e);
        let _ = ok.on_status(&Status::ok(), None, Some(&mut t), &mut e);
        assert_eq!(t.tokens(), 6.5);
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let a = policy(2);
        let b = policy(3);
        let c = policy(4);
        let config = RetryConfig::new()
            .with_default(a.clone())
            .with_service("pkg.Svc", b.clone())
            .with_method("/pkg.Svc/M", c.clone())
            .without_method("/pkg.Svc/Unsafe");
        assert_eq!(config.policy_for("/pkg.Svc/M"), Some(&c));
        assert_eq!(config.policy_for("/pkg.Svc/Other"), Some(&b));
        assert_eq!(config.policy_for("/pkg.Svc/Unsafe"), None);
        assert_eq!(config.policy_for("/other.Svc/M"), Some(&a));
        assert_eq!(config.policy_for("nonsense"), Some(&a));
        assert_eq!(RetryConfig::from(a.clone()).policy_for("/x.Y/Z"), Some(&a));
        assert_eq!(RetryConfig::new().policy_for("/x.Y/Z"), None);
        assert_eq!(config.start("/pkg.Svc/M").previous_attempts(), 0);
    }

    #[test]
    fn a_method_has_a_retry_or_a_hedging_policy() {
        use crate::hedging::HedgingPolicy;
        let hedge = HedgingPolicy::new(3, Duration::from_millis(10), [Code::Unavailable]).unwrap();
        let config = RetryConfig::new()
            .with_default(policy(2))
            .with_service_hedging("pkg.Fast", hedge.clone())
            .with_method("/pkg.Fast/Write", policy(3))
            .with_method_hedging("/pkg.Svc/Read", hedge.clone());
        assert_eq!(config.hedging_for("/pkg.Fast/Get"), Some(&hedge));
        assert_eq!(config.policy_for("/pkg.Fast/Get"), None);
        assert_eq!(config.policy_for("/pkg.Fast/Write"), Some(&policy(3)));
        assert_eq!(config.hedging_for("/pkg.Fast/Write"), None);
        assert_eq!(config.hedging_for("/pkg.Svc/Read"), Some(&hedge));
        assert_eq!(
            config.method_policy("/pkg.Svc/Other"),
            Some(&MethodPolicy::Retry(policy(2)))
        );
        // A hedged method's calls get no retry policy, only transparent
        // retries.
        assert!(!config.start("/pkg.Svc/Read").has_policy());
        let all = RetryConfig::from(hedge.clone());
        assert_eq!(all.hedging_for("/x.Y/Z"), Some(&hedge));
        assert_eq!(all.without_method("/x.Y/Z").method_policy("/x.Y/Z"), None);
    }

    #[test]
    fn begin_and_call_policy_count_a_call_once() {
        use crate::hedging::{Hedging, HedgingPolicy};
        let hedge = HedgingPolicy::new(2, Duration::from_millis(5), [Code::Unavailable]).unwrap();
        let config = RetryConfig::from(policy(3))
            .with_method_hedging("/pkg.Svc/Read", hedge.clone())
            .with_throttle(RetryThrottle::new(10, 1.0).unwrap());
        let mut r = Retrier::new(config, fixed(0));
        let (state, hedging) = r.begin("/pkg.Svc/Read", 1);
        assert_eq!(hedging, Some(hedge.clone()));
        assert!(!state.has_policy());
        let (state, hedging) = r.begin("/pkg.Svc/Write", 1);
        assert!(hedging.is_none() && state.has_policy());
        // A retried call that ends UNAVAILABLE once committed: one token.
        let mut retried = CallPolicy::Retried(state);
        if let CallPolicy::Retried(s) = &mut retried {
            s.on_headers();
        }
        retried.on_end(&mut r, &unavailable());
        retried.on_end(&mut r, &unavailable());
        assert_eq!(r.throttle().map(RetryThrottle::tokens), Some(9.0));
        // A hedged call committed by headers that ends OK: refilled once.
        let t0 = std::time::Instant::now();
        let mut h = Hedging::new(hedge, t0, None);
        let n = h.poll_start(t0, r.throttle()).unwrap();
        assert!(h.on_headers(n));
        let mut hedged = CallPolicy::Hedged(h);
        hedged.on_end(&mut r, &Status::ok());
        hedged.on_end(&mut r, &Status::ok());
        assert_eq!(r.throttle().map(RetryThrottle::tokens), Some(10.0));
    }

    /// Entropy that hands out `values` in turn (then zeros) and counts
    /// its draws.
    #[derive(Clone)]
    struct Script {
        values: Vec<u64>,
        draws: usize,
    }

    impl Entropy for Script {
        fn fill(&mut self, buf: &mut [u8]) {
            let v = self.values.get(self.draws).copied().unwrap_or(0);
            self.draws += 1;
            buf.copy_from_slice(&v.to_be_bytes());
        }
    }

    fn script(values: &[u64]) -> Script {
        Script {
            values: values.to_vec(),
            draws: 0,
        }
    }

    #[test]
    fn retrier_starts_calls_under_their_policy() {
        let config = RetryConfig::new()
            .with_service("pkg.Svc", policy(3))
            .without_method("/pkg.Svc/Unsafe")
            .with_buffer_size(10);
        let mut r = Retrier::new(config.clone(), script(&[]));
        assert_eq!(r.config(), &config);
        assert!(r.throttle().is_none());
        // Two transparent retries asked for, two granted, then none.
        let mut call = r.start("/pkg.Svc/M", 2);
        assert!(call.on_unprocessed());
        assert!(call.on_unprocessed());
        assert!(!call.on_unprocessed());
        // The config's buffer size: 11 bytes commit the call.
        call.on_buffered(11);
        assert!(call.is_committed());
        assert_eq!(
            r.decide(&mut call, &unavailable(), None),
            RetryDecision::Stop(StopReason::Committed)
        );
        // A method left out has no policy; one of another service neither.
        for path in ["/pkg.Svc/Unsafe", "/other.Svc/M"] {
            let mut call = r.start(path, 0);
            assert!(!call.on_unprocessed());
            assert_eq!(
                r.decide(&mut call, &unavailable(), None),
                RetryDecision::Stop(StopReason::NoPolicy)
            );
        }
        assert_eq!(r.entropy.draws, 0);
    }

    #[test]
    fn retrier_draws_jitter_only_for_a_backoff() {
        // Half, then a quarter, of the ceilings 100 ms and 200 ms.
        let mut r = Retrier::new(policy(4).into(), script(&[1 << 63, 1 << 62]));
        let mut call = r.start("/pkg.Svc/M", 1);
        let ms = Duration::from_millis;
        assert_eq!(
            r.decide(&mut call, &unavailable(), None),
            RetryDecision::Retry(ms(50))
        );
        assert_eq!(
            r.decide(&mut call, &unavailable(), None),
            RetryDecision::Retry(ms(50))
        );
        assert_eq!(r.entropy.draws, 2);
        // A pushback is exact and draws nothing; success neither.
        assert_eq!(
            r.decide(&mut call, &unavailable(), Some(&pushback("7"))),
            RetryDecision::Retry(ms(7))
        );
        assert_eq!(
            r.decide(&mut call, &Status::ok(), None),
            RetryDecision::Stop(StopReason::Succeeded)
        );
        assert_eq!(r.entropy.draws, 2);
        assert_eq!(call.previous_attempts(), 3);
    }

    #[test]
    fn retrier_calls_share_the_throttle() {
        // 3 tokens: a retry needs more than 1.5 left.
        let config =
            RetryConfig::from(policy(5)).with_throttle(RetryThrottle::new(3, 0.5).unwrap());
        let mut r = Retrier::new(config, script(&[]));
        assert_eq!(r.throttle().map(RetryThrottle::tokens), Some(3.0));
        let mut a = r.start("/pkg.Svc/A", 1);
        let mut b = r.start("/pkg.Svc/B", 1);
        assert_eq!(
            r.decide(&mut a, &unavailable(), None),
            RetryDecision::Retry(Duration::ZERO)
        );
        // The second call's failure leaves 1 token: no retry for it.
        assert_eq!(
            r.decide(&mut b, &unavailable(), None),
            RetryDecision::Stop(StopReason::Throttled)
        );
        assert_eq!(r.throttle().map(RetryThrottle::tokens), Some(1.0));
        // Successes of any call refill it, for every call after them.
        for _ in 0..2 {
            let mut ok = r.start("/pkg.Svc/C", 1);
            let _ = r.decide(&mut ok, &Status::ok(), None);
        }
        assert_eq!(r.throttle().map(RetryThrottle::tokens), Some(2.0));
        let mut c = r.start("/pkg.Svc/C", 1);
        // 2 - 1 = 1 left after this failure: throttled again.
        assert_eq!(
            r.decide(&mut c, &unavailable(), None),
            RetryDecision::Stop(StopReason::Throttled)
        );
        // A clone carries the throttle as it stands (a second channel).
        let other = r.clone();
        assert_eq!(other.throttle().map(RetryThrottle::tokens), Some(1.0));
        assert!(format!("{r:?}").starts_with("Retrier"));
    }

    fn msg(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn streaming_calls_replay_what_they_sent_until_committed() {
        let mut r = Retrier::new(RetryConfig::from(policy(5)), fixed(0));
        let mut call = r.start("/pkg.Svc/Bidi", 1);
        let mut replay = ReplayBuffer::new();
        for n in [5, 6, 7] {
            r.on_send(&mut call, &mut replay, &msg(n));
        }
        assert_eq!(replay.bytes(), 18);
        assert_eq!(r.buffered(), 18);
        // A trailers-only UNAVAILABLE: retried, everything kept, in order.
        assert!(matches!(
            r.decide_streaming(&mut call, &mut replay, &unavailable(), None),
            RetryDecision::Retry(_)
        ));
        let lens: Vec<usize> = replay.messages().iter().map(Bytes::len).collect();
        assert_eq!(lens, [5, 6, 7]);
        assert!(!replay.is_closed());
        replay.close();
        // Response headers: committed, the buffer freed, never retried.
        r.commit(&mut call, &mut replay);
        assert!(call.is_committed());
        assert!(replay.messages().is_empty());
        assert!(replay.is_closed());
        assert_eq!(r.buffered(), 0);
        r.on_send(&mut call, &mut replay, &msg(3));
        assert!(replay.messages().is_empty());
        assert_eq!(
            r.decide_streaming(&mut call, &mut replay, &unavailable(), None),
            RetryDecision::Stop(StopReason::Committed)
        );
    }

    #[test]
    fn streaming_calls_commit_past_the_call_buffer() {
        let mut r = Retrier::new(RetryConfig::from(policy(5)).with_buffer_size(10), fixed(0));
        let mut call = r.start("/pkg.Svc/Upload", 1);
        let mut replay = ReplayBuffer::new();
        r.on_send(&mut call, &mut replay, &msg(10));
        assert!(!call.is_committed());
        r.on_send(&mut call, &mut replay, &msg(1));
        assert!(call.is_committed());
        assert_eq!((replay.bytes(), r.buffered()), (0, 0));
        assert_eq!(
            r.decide_streaming(&mut call, &mut replay, &unavailable(), None),
            RetryDecision::Stop(StopReason::Committed)
        );
    }

    #[test]
    fn streaming_calls_share_the_channel_buffer() {
        let config = RetryConfig::from(policy(5)).with_channel_buffer_size(20);
        let mut r = Retrier::new(config, fixed(0));
        let (mut a, mut b) = (r.start("/pkg.Svc/A", 1), r.start("/pkg.Svc/B", 1));
        let (mut ra, mut rb) = (ReplayBuffer::new(), ReplayBuffer::new());
        r.on_send(&mut a, &mut ra, &msg(15));
        // B's message would take the channel to 25: B is committed, A not.
        r.on_send(&mut b, &mut rb, &msg(10));
        assert!(b.is_committed() && !a.is_committed());
        assert_eq!(r.buffered(), 15);
        // A ends (or is dropped): its bytes are free for the next call.
        r.release(&mut ra);
        assert_eq!(r.buffered(), 0);
        let mut c = r.start("/pkg.Svc/C", 1);
        let mut rc = ReplayBuffer::new();
        r.on_send(&mut c, &mut rc, &msg(20));
        assert!(!c.is_committed());
        assert_eq!(r.buffered(), 20);
    }

    #[test]
    fn streaming_retries_are_transparent_when_unsent_and_end_at_the_deadline() {
        let mut r = Retrier::new(RetryConfig::from(policy(5)), fixed(0));
        let mut call = r.start("/pkg.Svc/Bidi", 1);
        let mut replay = ReplayBuffer::new();
        r.on_send(&mut call, &mut replay, &msg(4));
        // Never reached the application: at once, not an attempt.
        let once = r.retry_streaming(&mut call, &mut replay, &unavailable(), None, true, None);
        assert_eq!(once, Some(Duration::ZERO));
        assert_eq!(call.previous_attempts(), 0);
        // The transparent retry is spent: the policy decides (a pushback).
        let pushed = Some(pushback("250"));
        let later = r.retry_streaming(
            &mut call,
            &mut replay,
            &unavailable(),
            pushed.as_ref(),
            true,
            None,
        );
        assert_eq!(later, Some(Duration::from_millis(250)));
        assert_eq!((call.previous_attempts(), r.buffered()), (1, 4));
        // A next attempt that would start at the deadline is not made,
        // and the kept messages are freed.
        let left = Some(Duration::from_millis(250));
        let past = r.retry_streaming(
            &mut call,
            &mut replay,
            &unavailable(),
            pushed.as_ref(),
            false,
            left,
        );
        assert_eq!(past, None);
        assert_eq!((replay.bytes(), r.buffered()), (0, 0));
        // The call is over: what it sends later is not kept.
        assert!(call.is_committed());
        r.on_send(&mut call, &mut replay, &msg(4));
        assert_eq!((replay.bytes(), r.buffered()), (0, 0));
        // A code outside the policy ends the call too.
        let mut call = r.start("/pkg.Svc/Bidi", 1);
        let mut replay = ReplayBuffer::new();
        r.on_send(&mut call, &mut replay, &msg(4));
        let internal = Status::new(Code::Internal, "no");
        assert_eq!(
            r.retry_streaming(&mut call, &mut replay, &internal, None, false, None),
            None
        );
        assert_eq!(r.buffered(), 0);
        r.on_send(&mut call, &mut replay, &msg(4));
        assert_eq!(r.buffered(), 0);
        // So does a trailers-only OK, which commits nothing by itself.
        let mut call = r.start("/pkg.Svc/Bidi", 1);
        let mut replay = ReplayBuffer::new();
        r.on_send(&mut call, &mut replay, &msg(4));
        assert_eq!(
            r.retry_streaming(&mut call, &mut replay, &Status::ok(), None, false, None),
            None
        );
        r.on_send(&mut call, &mut replay, &msg(4));
        assert_eq!((replay.bytes(), r.buffered()), (0, 0));
    }

    #[test]
    fn streaming_calls_follow_pushback_and_codes() {
        let mut r = Retrier::new(RetryConfig::from(policy(5)), fixed(u64::MAX));
        let mut call = r.start("/pkg.Svc/Bidi", 1);
        let mut replay = ReplayBuffer::new();
        r.on_send(&mut call, &mut replay, &msg(4));
        // The server's delay, exactly; the messages stay.
        assert_eq!(
            r.decide_streaming(
                &mut call,
                &mut replay,
                &unavailable(),
                Some(&pushback("250"))
            ),
            RetryDecision::Retry(Duration::from_millis(250))
        );
        assert_eq!(replay.bytes(), 4);
        // A pushback saying stop: not retried, the buffer freed.
        assert_eq!(
            r.decide_streaming(
                &mut call,
                &mut replay,
                &unavailable(),
                Some(&pushback("-1"))
            ),
            RetryDecision::Stop(StopReason::Pushback)
        );
        assert_eq!((replay.bytes(), r.buffered()), (0, 0));
        // A code outside the policy: not retried either.
        let mut call = r.start("/pkg.Svc/Bidi", 1);
        let mut replay = ReplayBuffer::new();
        r.on_send(&mut call, &mut replay, &msg(4));
        assert_eq!(
            r.decide_streaming(
                &mut call,
                &mut replay,
                &Status::new(Code::Internal, "no"),
                None
            ),
            RetryDecision::Stop(StopReason::NotRetryable)
        );
        assert_eq!(r.buffered(), 0);
    }
}
