//! A client channel's settings, the same on every runtime: the authority
//! it names, its keep-alive pings (gRFC A8) and its retry policy (gRFC A6).
//! `wirestate_rt::grpc::ChannelBuilder` and
//! `wirestate_blocking::grpc::ChannelBuilder` take a [`ChannelConfig`] and
//! add only what belongs to the runtime: where to connect, the connection
//! settings, the runtime handle. [`Redial`] is what such a channel keeps
//! between its connections.

use std::time::Duration;

use bytes::Bytes;
use http::uri::Authority;

use crate::keepalive::{DEFAULT_KEEPALIVE_TIMEOUT, KeepAlive};
use crate::retry::RetryConfig;
use crate::status::{Code, Status};

/// The settings of a channel that opens its own connections.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::{ChannelConfig, Code};
/// use wirestate_grpc::retry::RetryPolicy;
///
/// let policy = RetryPolicy::new(
///     4,                          // attempts, the first included (at most 5)
///     Duration::from_millis(100), // initial backoff
///     Duration::from_secs(2),     // max backoff
///     2.0,                        // multiplier
///     [Code::Unavailable],        // retryable codes
/// )
/// .expect("a valid policy");
/// let config = ChannelConfig::new()
///     .keepalive(Duration::from_secs(30))
///     .keepalive_timeout(Duration::from_secs(5))
///     .retry_policy(policy);
/// let channel = config.validate("127.0.0.1:50051")?;
/// assert_eq!(channel.authority, "127.0.0.1:50051");
/// assert_eq!(channel.keepalive.map(|k| k.timeout()), Some(Duration::from_secs(5)));
/// assert!(!channel.keepalive_without_calls);
/// # Ok::<(), wirestate_grpc::Status>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChannelConfig {
    authority: Option<String>,
    keepalive: Option<Duration>,
    keepalive_timeout: Option<Duration>,
    keepalive_without_calls: bool,
    retry: RetryConfig,
    retry_buffer: Option<usize>,
    channel_retry_buffer: Option<usize>,
}

impl ChannelConfig {
    /// No keep-alive pings, no retries but the transparent ones, the
    /// address as the authority.
    pub fn new() -> ChannelConfig {
        ChannelConfig::default()
    }

    /// The `:authority` of requests (default: the address connected to).
    pub fn authority(mut self, authority: &str) -> ChannelConfig {
        self.authority = Some(authority.to_owned());
        self
    }

    /// Keep-alive pings: a PING after `interval` without input while a
    /// call is in flight (or always, with
    /// [`keepalive_without_calls`](Self::keepalive_without_calls)), and the
    /// connection closed when one stays unanswered for the
    /// [`keepalive_timeout`](Self::keepalive_timeout) (20 s by default).
    /// When the server answers GOAWAY ENHANCE_YOUR_CALM `too_many_pings`
    /// (its minimum ping interval is longer), the channel doubles the
    /// interval for the connections it opens next, as gRPC clients do
    /// (gRFC A8, [`KeepAlive::on_goaway`]); the channel's
    /// `keepalive_interval()` shows where it stands. A zero interval is
    /// raised to one millisecond.
    pub fn keepalive(mut self, interval: Duration) -> ChannelConfig {
        self.keepalive = Some(interval);
        self
    }

    /// How long a keep-alive PING may stay unanswered (default 20 s);
    /// takes effect with [`keepalive`](Self::keepalive).
    pub fn keepalive_timeout(mut self, timeout: Duration) -> ChannelConfig {
        self.keepalive_timeout = Some(timeout);
        self
    }

    /// Whether keep-alive pings go out while no call is in flight. Off by
    /// default, as in gRPC (gRFC A8): servers by default count pings on an
    /// idle connection against the client (grpcio allows one per two
    /// hours), which would end in GOAWAY `too_many_pings`. Turn it on for
    /// servers that permit it, to keep idle connections through NATs and
    /// proxies.
    pub fn keepalive_without_calls(mut self, on: bool) -> ChannelConfig {
        self.keepalive_without_calls = on;
        self
    }

    /// Retries by the gRPC retry policy (gRFC A6): a
    /// [`RetryPolicy`](crate::retry::RetryPolicy) for every method, or a
    /// [`RetryConfig`] with per-service and per-method policies (methods
    /// not safe to repeat left out) and a throttle. The channel's
    /// `with_retry` says what is retried.
    pub fn retry_policy(mut self, config: impl Into<RetryConfig>) -> ChannelConfig {
        self.retry = config.into();
        self
    }

    /// How many request bytes one call may keep for replay while it can
    /// still be retried (default 256 KiB,
    /// [`DEFAULT_RETRY_BUFFER_SIZE`](crate::retry::DEFAULT_RETRY_BUFFER_SIZE)):
    /// a client- or bidi-streaming call that sends more is committed and
    /// runs on without retries. Overrides the retry config's own.
    pub fn retry_buffer_size(mut self, bytes: usize) -> ChannelConfig {
        self.retry_buffer = Some(bytes);
        self
    }

    /// How many request bytes all the calls of the channel may keep for
    /// replay together (default 16 MiB,
    /// [`DEFAULT_CHANNEL_RETRY_BUFFER_SIZE`](crate::retry::DEFAULT_CHANNEL_RETRY_BUFFER_SIZE)):
    /// a call that would go past it is committed instead. Overrides the
    /// retry config's own.
    pub fn channel_retry_buffer_size(mut self, bytes: usize) -> ChannelConfig {
        self.channel_retry_buffer = Some(bytes);
        self
    }

    /// The settings checked, for a channel connecting to `address`
    /// (`host:port`, the authority when none was set).
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT for an authority that is not one.
    // Status is what the runtimes' constructors return (see `call.rs`).
    #[allow(clippy::result_large_err)]
    pub fn validate(self, address: &str) -> Result<ValidChannelConfig, Status> {
        let authority = parse_authority(self.authority.as_deref().unwrap_or(address))?;
        let keepalive = self.keepalive.map(|every| {
            KeepAlive::new(every)
                .with_timeout(self.keepalive_timeout.unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT))
        });
        let mut retry = self.retry;
        if let Some(bytes) = self.retry_buffer {
            retry = retry.with_buffer_size(bytes);
        }
        if let Some(bytes) = self.channel_retry_buffer {
            retry = retry.with_channel_buffer_size(bytes);
        }
        Ok(ValidChannelConfig {
            authority,
            keepalive,
            keepalive_without_calls: self.keepalive_without_calls,
            retry,
        })
    }
}

/// A [`ChannelConfig`] that passed [`validate`](ChannelConfig::validate):
/// what a runtime's channel is built from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidChannelConfig {
    /// The `:authority` of requests.
    pub authority: Authority,
    /// The keep-alive setting of the first connection (`None`: no pings).
    pub keepalive: Option<KeepAlive>,
    /// Whether pings go out while no call is in flight.
    pub keepalive_without_calls: bool,
    /// The retry settings.
    pub retry: RetryConfig,
}

/// A connection of a channel, as [`Redial`] sees it: each runtime's HTTP/2
/// client handle.
pub trait Connection: Clone {
    /// Whether it takes no more requests.
    fn is_closed(&self) -> bool;
    /// The error code and debug data of the GOAWAY the server sent, if it
    /// sent one.
    fn goaway(&self) -> Option<(u32, Bytes)>;
}

/// What a channel that opens its own connections keeps between them: the
/// open connection, the keep-alive setting — which backs off when a
/// server ended a connection with GOAWAY `too_many_pings` (gRFC A8) — and
/// how many connections it opened. The runtime connects, and locks it if
/// its calls run concurrently.
///
/// ```
/// use bytes::Bytes;
/// use std::time::Duration;
/// use wirestate_grpc::channel::{Connection, Redial};
/// use wirestate_grpc::keepalive::{KeepAlive, TOO_MANY_PINGS};
///
/// #[derive(Clone)]
/// struct Conn { closed: bool, goaway: Option<(u32, Bytes)> }
/// impl Connection for Conn {
///     fn is_closed(&self) -> bool { self.closed }
///     fn goaway(&self) -> Option<(u32, Bytes)> { self.goaway.clone() }
/// }
///
/// let mut redial = Redial::new(Some(KeepAlive::new(Duration::from_secs(10))));
/// assert!(redial.open().is_none());
/// let ended = Conn { closed: true, goaway: Some((0xb, Bytes::from_static(TOO_MANY_PINGS))) };
/// redial.connected(ended);
/// // The server found the pings too frequent: the next connection pings half as often.
/// assert!(redial.open().is_none());
/// assert_eq!(redial.keepalive().map(|k| k.interval()), Some(Duration::from_secs(20)));
/// assert_eq!(redial.connections(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Redial<C> {
    current: Option<C>,
    keepalive: Option<KeepAlive>,
    connections: u64,
}

impl<C: Connection> Redial<C> {
    /// No connection yet; `keepalive` for the first one (`None`: no
    /// pings).
    pub fn new(keepalive: Option<KeepAlive>) -> Redial<C> {
        Redial {
            current: None,
            keepalive,
            connections: 0,
        }
    }

    /// The open connection, if there is one. One that ended is let go
    /// here, once its GOAWAY is read: `too_many_pings` doubles the
    /// keep-alive interval of the connections opened from then on.
    pub fn open(&mut self) -> Option<C> {
        let current = self.current.as_ref()?;
        if !current.is_closed() {
            return Some(current.clone());
        }
        if let Some((code, debug)) = current.goaway()
            && let Some(k) = &mut self.keepalive
        {
            k.on_goaway(code, &debug);
        }
        self.current = None;
        None
    }

    /// A new connection is open: the one to use, which is `connection`
    /// unless another opened meanwhile is still open (then `connection`
    /// is dropped unused, which closes it).
    pub fn connected(&mut self, connection: C) -> C {
        if let Some(other) = &self.current
            && !other.is_closed()
        {
            return other.clone();
        }
        self.current = Some(connection.clone());
        self.connections += 1;
        connection
    }

    /// The keep-alive setting of the next connection.
    pub fn keepalive(&self) -> Option<KeepAlive> {
        self.keepalive
    }

    /// How many connections were opened.
    pub fn connections(&self) -> u64 {
        self.connections
    }
}

/// `authority` (`host:port`) as the `:authority` of a channel's requests.
///
/// # Errors
///
/// INVALID_ARGUMENT if it is not one (the status a channel's constructor
/// returns).
#[allow(clippy::result_large_err)]
pub fn parse_authority(authority: &str) -> Result<Authority, Status> {
    authority
        .parse::<Authority>()
        .map_err(|e| Status::new(Code::InvalidArgument, format!("authority: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keepalive::TOO_MANY_PINGS;
    use crate::retry::RetryPolicy;
    use std::rc::Rc;

    #[test]
    fn defaults_are_no_pings_and_no_retries() {
        let v = ChannelConfig::new().validate("example.com:443").unwrap();
        assert_eq!(v.authority, "example.com:443");
        assert!(v.keepalive.is_none());
        assert!(!v.keepalive_without_calls);
        assert_eq!(v.retry, RetryConfig::new());
        assert_eq!(v.retry.buffer_size(), 256 << 10);
        assert_eq!(v.retry.channel_buffer_size(), 16 << 20);
    }

    #[test]
    fn retry_buffer_limits_apply_to_any_retry_config() {
        let policy = RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(1),
            2.0,
            [Code::Unavailable],
        )
        .unwrap();
        // Set before the policy, they still hold.
        let v = ChannelConfig::new()
            .retry_buffer_size(1 << 20)
            .channel_retry_buffer_size(4 << 20)
            .retry_policy(policy)
            .validate("a:1")
            .unwrap();
        assert_eq!(v.retry.buffer_size(), 1 << 20);
        assert_eq!(v.retry.channel_buffer_size(), 4 << 20);
    }

    #[test]
    fn settings_reach_the_validated_config() {
        let policy = RetryPolicy::new(
            3,
            Duration::from_millis(10),
            Duration::from_millis(100),
            2.0,
            [Code::Unavailable],
        )
        .unwrap();
        let v = ChannelConfig::new()
            .authority("svc.internal:50051")
            .keepalive(Duration::ZERO)
            .keepalive_without_calls(true)
            .retry_policy(policy.clone())
            .validate("127.0.0.1:1")
            .unwrap();
        assert_eq!(v.authority, "svc.internal:50051");
        // A zero interval would ping on every input: raised to 1 ms; the
        // timeout is the default one.
        let k = v.keepalive.unwrap();
        assert_eq!(k.interval(), Duration::from_millis(1));
        assert_eq!(k.timeout(), DEFAULT_KEEPALIVE_TIMEOUT);
        assert!(v.keepalive_without_calls);
        assert_eq!(v.retry.policy_for("/a.B/C"), Some(&policy));
        // A timeout set before the interval still counts.
        let v = ChannelConfig::new()
            .keepalive_timeout(Duration::from_secs(1))
            .keepalive(Duration::from_secs(9))
            .validate("h:1")
            .unwrap();
        assert_eq!(v.keepalive.unwrap().timeout(), Duration::from_secs(1));
    }

    #[derive(Clone, Debug)]
    struct Conn(Rc<std::cell::Cell<bool>>, Option<(u32, Bytes)>);

    impl Connection for Conn {
        fn is_closed(&self) -> bool {
            self.0.get()
        }
        fn goaway(&self) -> Option<(u32, Bytes)> {
            self.1.clone()
        }
    }

    fn conn(goaway: Option<(u32, &'static [u8])>) -> Conn {
        Conn(
            Rc::default(),
            goaway.map(|(c, d)| (c, Bytes::from_static(d))),
        )
    }

    #[test]
    fn redial_reuses_the_open_connection_and_backs_off_on_too_many_pings() {
        let secs = Duration::from_secs;
        let mut r = Redial::new(Some(KeepAlive::new(secs(1))));
        assert!(r.open().is_none());
        let a = conn(None);
        let a = r.connected(a);
        assert!(Rc::ptr_eq(&r.open().unwrap().0, &a.0));
        // A second connection opened meanwhile is not used.
        let b = conn(None);
        assert!(Rc::ptr_eq(&r.connected(b).0, &a.0));
        assert_eq!(r.connections(), 1);
        // Ended without a GOAWAY, or with another one: no back-off.
        a.0.set(true);
        assert!(r.open().is_none());
        let c = r.connected(conn(Some((0, b"bye"))));
        c.0.set(true);
        assert!(r.open().is_none());
        assert_eq!(r.keepalive().map(|k| k.interval()), Some(secs(1)));
        // too_many_pings: doubled, for every one of them.
        for want in [2, 4] {
            let d = r.connected(conn(Some((0xb, TOO_MANY_PINGS))));
            d.0.set(true);
            assert!(r.open().is_none());
            assert_eq!(r.keepalive().map(|k| k.interval()), Some(secs(want)));
        }
        assert_eq!(r.connections(), 4);
        // Without keep-alive, a GOAWAY changes nothing.
        let mut quiet = Redial::new(None);
        let e = quiet.connected(conn(Some((0xb, TOO_MANY_PINGS))));
        e.0.set(true);
        assert!(quiet.open().is_none());
        assert!(quiet.keepalive().is_none());
    }

    #[test]
    fn a_bad_authority_is_invalid_argument() {
        for bad in ["", "a b:1", "host:port:extra/"] {
            let from_address = ChannelConfig::new().validate(bad).unwrap_err();
            assert_eq!(from_address.code, Code::InvalidArgument, "{bad:?}");
            let set = ChannelConfig::new()
                .authority(bad)
                .validate("ok:1")
                .unwrap_err();
            assert_eq!(set.code, Code::InvalidArgument, "{bad:?}");
        }
        assert_eq!(
            parse_authority("[::1]:50051").unwrap().as_str(),
            "[::1]:50051"
        );
    }
}
