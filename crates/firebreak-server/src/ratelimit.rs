//! The per-source request limit that protects ingest itself (not the platforms' send
//! limits, which the reply stage enforces).
//!
//! One GCRA bucket per `(source, client IP)`, where the source is the route family: `api`
//! for `POST /v1/messages`, `meta`, `telegram` and `x` for the webhooks. Health, readiness
//! and metrics are never limited, so probes keep working while a source is throttled.
//!
//! **The client IP is the TCP peer address**, unless `trust_forwarded_for` is set, in
//! which case it is the first hop of `X-Forwarded-For`. Trusting the header by default
//! would let any caller pick its own bucket (a fresh IP per request) and bypass the
//! limit, so it is only for deployments behind a proxy that overwrites the header.
//!
//! X's CRC challenge (`GET /webhooks/x`) has a bucket of its own per client IP, much
//! smaller ([`CRC_RATE_PER_SECOND`], burst [`CRC_BURST`]) and always on: X sends one at
//! registration and about hourly, and the endpoint signs with the consumer secret.
//!
//! Idle buckets are evicted with `retain_recent` on a timer, so memory stays bounded by
//! the number of sources seen in the last few seconds, not since start-up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firebreak_core::FirebreakError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::error::ApiError;

/// Requests per second per `(source, IP)` when nothing else is configured. Generous: a
/// platform delivers from a handful of addresses, and one delivery may carry many events.
pub const DEFAULT_RATE_PER_SOURCE: u32 = 1_000;

/// CRC challenges per second per client IP; X sends one an hour.
pub const CRC_RATE_PER_SECOND: u32 = 2;
/// CRC challenges a client may send at once before the rate applies.
pub const CRC_BURST: u32 = 10;

/// How often idle buckets are dropped.
const EVICT_EVERY: Duration = Duration::from_secs(10);

type Key = (&'static str, IpAddr);

/// The source label of X's CRC challenge, limited apart from deliveries.
const CRC_SOURCE: &str = "x_crc";

/// A keyed limiter shared by every HTTP ingest route. Cloning shares the buckets.
#[derive(Clone)]
pub struct IngestLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<Key>>>,
    crc: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trust_forwarded_for: bool,
}

impl std::fmt::Debug for IngestLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestLimiter")
            .field("enabled", &self.limiter.is_some())
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .finish()
    }
}

impl Default for IngestLimiter {
    fn default() -> Self {
        IngestLimiter::new(DEFAULT_RATE_PER_SOURCE, false)
    }
}

impl IngestLimiter {
    /// `per_second` requests per second per key, with a burst of the same size. Zero
    /// turns the limit off (for benchmarks that measure the pipeline, not the guard).
    pub fn new(per_second: u32, trust_forwarded_for: bool) -> Self {
        let limiter = NonZeroU32::new(per_second)
            .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate))));
        let crc_quota =
            Quota::per_second(nonzero(CRC_RATE_PER_SECOND)).allow_burst(nonzero(CRC_BURST));
        IngestLimiter {
            limiter,
            crc: Arc::new(RateLimiter::keyed(crc_quota)),
            trust_forwarded_for,
        }
    }

    /// Ok, or how long the client should wait before its next CRC challenge.
    pub fn check_crc(&self, ip: IpAddr) -> Result<(), Duration> {
        self.crc
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Ok, or how long the caller should wait.
    pub fn check(&self, source: &'static str, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&(source, ip))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Buckets currently held.
    pub fn tracked_keys(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }

    /// Drops buckets that are full again (idle keys) now.
    pub fn evict_idle(&self) {
        self.crc.retain_recent();
        self.crc.shrink_to_fit();
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Evicts idle buckets every few seconds until `shutdown`.
    pub fn spawn_eviction(&self, shutdown: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVICT_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => this.evict_idle(),
                }
            }
        });
    }

    fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        if self.trust_forwarded_for
            && let Some(ip) = first_forwarded_hop(headers)
        {
            return ip;
        }
        // No peer address only happens when the router is driven without a listener
        // (in-process tests); they all share one bucket.
        peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip())
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn first_forwarded_hop(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get("x-forwarded-for")?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

/// The limited route family a request belongs to, if any.
fn source_of(method: &Method, path: &str) -> Option<&'static str> {
    match path {
        "/v1/messages" if method == Method::POST => Some("api"),
        "/webhooks/x" if method == Method::GET => Some(CRC_SOURCE),
        "/webhooks/meta" => Some("meta"),
        "/webhooks/telegram" => Some("telegram"),
        "/webhooks/x" => Some("x"),
        "/webhooks/line" => Some("line"),
        _ => None,
    }
}

/// axum middleware: 429 with `Retry-After` once a `(source, IP)` is over its rate.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(source) = source_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = state.ingest_limit.client_ip(request.headers(), peer);
    let verdict = if source == CRC_SOURCE {
        state.ingest_limit.check_crc(ip)
    } else {
        state.ingest_limit.check(source, ip)
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            state.metrics.rejected(source, "rate_limited");
            // Round up: a client told "0" would come straight back.
            let retry = Duration::from_secs(wait.as_secs() + 1);
            ApiError(FirebreakError::exhausted(
                format!("too many requests for {source} from this client"),
                retry,
            ))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn a_source_over_its_rate_is_refused_with_a_wait() {
        let limiter = IngestLimiter::new(3, false);
        for _ in 0..3 {
            assert!(limiter.check("telegram", ip(1)).is_ok());
        }
        let wait = limiter.check("telegram", ip(1)).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn sources_and_clients_have_separate_buckets() {
        let limiter = IngestLimiter::new(1, false);
        assert!(limiter.check("telegram", ip(1)).is_ok());
        assert!(limiter.check("telegram", ip(1)).is_err());
        assert!(limiter.check("meta", ip(1)).is_ok(), "another source");
        assert!(limiter.check("telegram", ip(2)).is_ok(), "another client");
        assert_eq!(limiter.tracked_keys(), 3);
    }

    #[test]
    fn crc_challenges_have_a_small_bucket_of_their_own_even_with_ingest_unlimited() {
        let limiter = IngestLimiter::new(0, false);
        for _ in 0..CRC_BURST {
            assert!(limiter.check_crc(ip(1)).is_ok());
        }
        assert!(limiter.check_crc(ip(1)).is_err());
        assert!(limiter.check_crc(ip(2)).is_ok(), "another client");
        assert!(limiter.check("x", ip(1)).is_ok(), "deliveries are apart");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = IngestLimiter::new(0, false);
        for _ in 0..10_000 {
            assert!(limiter.check("api", ip(1)).is_ok());
        }
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.9".parse().unwrap());
        let peer = Some(SocketAddr::new(ip(9), 4000));
        let trusting = IngestLimiter::new(1, true);
        let wary = IngestLimiter::new(1, false);
        assert_eq!(
            trusting.client_ip(&headers, peer),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(wary.client_ip(&headers, peer), ip(9));
    }

    #[test]
    fn only_ingest_routes_are_limited() {
        assert_eq!(source_of(&Method::POST, "/v1/messages"), Some("api"));
        assert_eq!(source_of(&Method::GET, "/v1/messages"), None);
        assert_eq!(source_of(&Method::GET, "/webhooks/meta"), Some("meta"));
        assert_eq!(source_of(&Method::POST, "/webhooks/x"), Some("x"));
        assert_eq!(source_of(&Method::POST, "/webhooks/line"), Some("line"));
        assert_eq!(source_of(&Method::GET, "/webhooks/x"), Some(CRC_SOURCE));
        assert_eq!(source_of(&Method::GET, "/healthz"), None);
        assert_eq!(source_of(&Method::GET, "/metrics"), None);
    }
}
