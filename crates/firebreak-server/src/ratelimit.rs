//! Request limits that protect the server itself (not the platforms' send limits, which
//! the reply stage enforces). Every bucket is a GCRA bucket; a request over its rate
//! gets 429 (HTTP) or `RESOURCE_EXHAUSTED` (gRPC) with `Retry-After`.
//!
//! **Limits apply after authentication**, keyed by who was authenticated, never by the
//! client address. Behind an Ingress every client shares the proxy's address, so a
//! bucket keyed on it would let one unsigned client exhaust every platform's deliveries;
//! and `X-Forwarded-For` is whatever the client wants it to be unless a proxy overwrites
//! it. So:
//!
//! - a webhook delivery is charged to its platform's bucket (`meta`, `telegram`, `x`,
//!   `line`) once its signature verified; a delivery that fails the check costs no
//!   bucket and gets 401;
//! - every call with a bearer token, HTTP or gRPC, is charged to the token's bucket
//!   (`token`, keyed by the token's name) once the token is accepted, at the same rate;
//! - classification (`POST /v1/classify`, gRPC `Classifier`), which runs the encoder, is
//!   also charged to a much smaller per-token bucket (`classify`).
//!
//! Unauthenticated floods are for the proxy in front to limit (it knows the real
//! client): see README, "Behind a proxy". Health, readiness and metrics are never
//! limited, so probes keep working while a source is throttled.
//!
//! The one limit before authentication is X's CRC challenge (`GET /webhooks/x`), which
//! has no credentials by design: a small bucket per client IP ([`CRC_RATE_PER_SECOND`],
//! burst [`CRC_BURST`]), always on. The client IP is the TCP peer, or with
//! `trust_forwarded_for` the first `X-Forwarded-For` hop.
//!
//! Idle buckets are evicted with `retain_recent` on a timer, so memory stays bounded by
//! the number of keys seen in the last few seconds, not since start-up.

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

/// Requests per second per platform and per token when nothing else is configured.
/// Generous: one delivery may carry many events, and an ingest client may batch.
pub const DEFAULT_RATE_PER_SOURCE: u32 = 1_000;

/// Classifications per second per token: each one runs the encoder.
pub const DEFAULT_CLASSIFY_RATE_PER_TOKEN: u32 = 100;

/// CRC challenges per second per client IP; X sends one an hour.
pub const CRC_RATE_PER_SECOND: u32 = 2;
/// CRC challenges a client may send at once before the rate applies.
pub const CRC_BURST: u32 = 10;

/// How often idle buckets are dropped.
const EVICT_EVERY: Duration = Duration::from_secs(10);

/// `(family, key)`: a platform with an empty key, or `token` with the token's name.
type Key = (&'static str, String);

/// The source label of X's CRC challenge, limited apart from deliveries.
const CRC_SOURCE: &str = "x_crc";

/// The limits shared by every HTTP route and gRPC service. Cloning shares the buckets.
#[derive(Clone)]
pub struct IngestLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<Key>>>,
    classify: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    crc: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trust_forwarded_for: bool,
}

impl std::fmt::Debug for IngestLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestLimiter")
            .field("enabled", &self.limiter.is_some())
            .field("classify", &self.classify.is_some())
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
    /// `per_second` requests per second per platform and per token, with a burst of the
    /// same size, and the default classify rate. Zero turns the limits off (for
    /// benchmarks that measure the pipeline, not the guard).
    pub fn new(per_second: u32, trust_forwarded_for: bool) -> Self {
        IngestLimiter::with_classify(
            per_second,
            DEFAULT_CLASSIFY_RATE_PER_TOKEN,
            trust_forwarded_for,
        )
    }

    /// As [`IngestLimiter::new`], with `classify_per_second` classifications per second
    /// per token (0: only the token's general bucket applies).
    pub fn with_classify(
        per_second: u32,
        classify_per_second: u32,
        trust_forwarded_for: bool,
    ) -> Self {
        let limiter = NonZeroU32::new(per_second)
            .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate))));
        let classify = NonZeroU32::new(classify_per_second)
            .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate))));
        let crc_quota =
            Quota::per_second(nonzero(CRC_RATE_PER_SECOND)).allow_burst(nonzero(CRC_BURST));
        IngestLimiter {
            limiter,
            classify,
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

    /// A verified delivery from `platform`: ok, or how long the platform should wait.
    pub fn check_platform(&self, platform: &'static str) -> Result<(), Duration> {
        self.check_key(platform, "")
    }

    /// A call by the token named `token`, once accepted.
    pub fn check_token(&self, token: &str) -> Result<(), Duration> {
        self.check_key(TOKEN_FAMILY, token)
    }

    /// A classification by `token`, on top of [`IngestLimiter::check_token`].
    pub fn check_classify(&self, token: &str) -> Result<(), Duration> {
        let Some(classify) = &self.classify else {
            return Ok(());
        };
        classify
            .check_key(&token.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn check_key(&self, family: &'static str, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&(family, key.to_string()))
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
        if let Some(classify) = &self.classify {
            classify.retain_recent();
            classify.shrink_to_fit();
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

/// The family of bearer-token calls.
const TOKEN_FAMILY: &str = "token";

/// The error for a caller over its bucket, counted under `source`.
pub fn over_limit(state: &AppState, source: &str, wait: Duration) -> FirebreakError {
    state.metrics.rejected(source, "rate_limited");
    // Round up: a client told "0" would come straight back.
    let retry = Duration::from_secs(wait.as_secs() + 1);
    FirebreakError::exhausted(format!("too many requests for {source}"), retry)
}

/// Charges a verified delivery from `platform` to its bucket.
pub fn charge_platform(state: &AppState, platform: &'static str) -> Result<(), FirebreakError> {
    state
        .ingest_limit
        .check_platform(platform)
        .map_err(|wait| over_limit(state, platform, wait))
}

/// Charges an accepted token's call to its bucket.
pub fn charge_token(state: &AppState, token: &str) -> Result<(), FirebreakError> {
    state
        .ingest_limit
        .check_token(token)
        .map_err(|wait| over_limit(state, TOKEN_FAMILY, wait))
}

/// Charges a classification to the token's classify bucket.
pub fn charge_classify(state: &AppState, token: &str) -> Result<(), FirebreakError> {
    state
        .ingest_limit
        .check_classify(token)
        .map_err(|wait| over_limit(state, "classify", wait))
}

/// axum middleware: the CRC challenge's per-IP bucket, the one limit that runs before
/// authentication (there is none on a CRC).
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !(request.method() == Method::GET && request.uri().path() == "/webhooks/x") {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = state.ingest_limit.client_ip(request.headers(), peer);
    match state.ingest_limit.check_crc(ip) {
        Ok(()) => next.run(request).await,
        Err(wait) => ApiError(over_limit(&state, CRC_SOURCE, wait)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn a_platform_over_its_rate_is_refused_with_a_wait() {
        let limiter = IngestLimiter::new(3, false);
        for _ in 0..3 {
            assert!(limiter.check_platform("telegram").is_ok());
        }
        let wait = limiter.check_platform("telegram").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn platforms_and_tokens_have_separate_buckets() {
        let limiter = IngestLimiter::new(1, false);
        assert!(limiter.check_platform("telegram").is_ok());
        assert!(limiter.check_platform("telegram").is_err());
        assert!(limiter.check_platform("meta").is_ok(), "another platform");
        assert!(limiter.check_token("ingest-a").is_ok());
        assert!(limiter.check_token("ingest-a").is_err());
        assert!(limiter.check_token("ingest-b").is_ok(), "another token");
        assert!(
            limiter.check_token("telegram").is_ok(),
            "a token named like a platform has its own bucket"
        );
        assert_eq!(limiter.tracked_keys(), 5);
    }

    #[test]
    fn classification_has_a_smaller_bucket_per_token() {
        let limiter = IngestLimiter::with_classify(1_000, 2, false);
        assert!(limiter.check_classify("viewer").is_ok());
        assert!(limiter.check_classify("viewer").is_ok());
        assert!(limiter.check_classify("viewer").is_err());
        assert!(limiter.check_classify("other").is_ok(), "per token");
        assert!(
            limiter.check_token("viewer").is_ok(),
            "apart from the token's"
        );
        let off = IngestLimiter::with_classify(1_000, 0, false);
        for _ in 0..100 {
            assert!(off.check_classify("viewer").is_ok());
        }
    }

    #[test]
    fn crc_challenges_have_a_small_bucket_of_their_own_even_with_ingest_unlimited() {
        let limiter = IngestLimiter::new(0, false);
        for _ in 0..CRC_BURST {
            assert!(limiter.check_crc(ip(1)).is_ok());
        }
        assert!(limiter.check_crc(ip(1)).is_err());
        assert!(limiter.check_crc(ip(2)).is_ok(), "another client");
        assert!(limiter.check_platform("x").is_ok(), "deliveries are apart");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = IngestLimiter::new(0, false);
        for _ in 0..10_000 {
            assert!(limiter.check_token("api").is_ok());
            assert!(limiter.check_platform("meta").is_ok());
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
}
