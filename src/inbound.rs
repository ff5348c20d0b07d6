//! Inbound rate limits: per client address on `/hooks/hr` (the internet-facing
//! webhook receiver) and on `/api/v1` and `/scim/v2` before authentication, and per
//! token after it. Each scope answers 429 with `Retry-After` in its own error format;
//! this module only decides, with `governor`'s keyed GCRA limiters.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

/// `[rate_limits]`: how many requests a client may send, refilled per second, and how
/// many at once after a quiet spell (the burst). 0 per second turns a limit off.
/// Over a limit is 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// `/hooks/hr/…` per client address.
    pub hooks_per_second: u32,
    pub hooks_burst: u32,
    /// `/api/v1` and `/scim/v2` per client address, before the token is checked.
    pub address_per_second: u32,
    pub address_burst: u32,
    /// `/api/v1` and `/scim/v2` per token.
    pub token_per_second: u32,
    pub token_burst: u32,
    /// Take the client address from the last `X-Forwarded-For` hop: only behind a
    /// reverse proxy that appends it, or every client can pick its own address.
    pub trust_forwarded_for: bool,
}

impl RateLimitSettings {
    /// Every limit off (tests of other things, benchmarks of throughput).
    pub fn unlimited() -> Self {
        Self {
            hooks_per_second: 0,
            address_per_second: 0,
            token_per_second: 0,
            ..Self::default()
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            hooks_per_second: 10,
            hooks_burst: 50,
            address_per_second: 100,
            address_burst: 400,
            token_per_second: 100,
            token_burst: 500,
            trust_forwarded_for: false,
        }
    }
}

/// How often limiters forget clients that have been quiet long enough to be back at
/// a full burst, so a flood from many addresses or tokens does not grow memory.
pub const FORGET_INTERVAL: Duration = Duration::from_secs(30);

/// The keyed limiters of one running service.
pub struct InboundLimits {
    hooks: Option<DefaultKeyedRateLimiter<IpAddr>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
    tokens: Option<DefaultKeyedRateLimiter<String>>,
    trust_forwarded_for: bool,
}

/// A refusal: the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds for `Retry-After`, at least one.
    pub fn retry_after_seconds(self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    /// `response` (a 429 in its scope's error format) with `Retry-After`, as an
    /// error a middleware can return.
    pub fn into_error(
        self,
        mut response: actix_web::HttpResponse,
        what: &'static str,
    ) -> actix_web::Error {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            self.retry_after_seconds().into(),
        );
        actix_web::error::InternalError::from_response(what, response).into()
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_second: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &Option<DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Limited> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| Limited {
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

impl InboundLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            hooks: limiter(settings.hooks_per_second, settings.hooks_burst),
            addresses: limiter(settings.address_per_second, settings.address_burst),
            tokens: limiter(settings.token_per_second, settings.token_burst),
            trust_forwarded_for: settings.trust_forwarded_for,
        }
    }

    /// Whom a request comes from: the peer, or with `trust_forwarded_for` the last
    /// `X-Forwarded-For` hop (the one the trusted proxy in front appended; earlier
    /// hops are the client's to write). An IPv6 client is its /64: one host holds a
    /// whole /64, and would otherwise have a fresh limit for every address in it.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = self
            .trust_forwarded_for
            .then(|| {
                headers
                    .get_all("x-forwarded-for")
                    .filter_map(|value| value.to_str().ok())
                    .flat_map(|value| value.split(','))
                    .last()
                    .and_then(|hop| hop.trim().parse().ok())
            })
            .flatten();
        forwarded.or(peer).map(|address| match address {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(prefix.into())
            }
            IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
            v4 => v4,
        })
    }

    /// Whom `req` comes from (see [`client_address`](Self::client_address)).
    pub fn client_of(&self, req: &actix_web::HttpRequest) -> Option<IpAddr> {
        self.client_address(req.peer_addr().map(|a| a.ip()), req.headers())
    }

    /// One webhook from `address`.
    pub fn check_hook(&self, address: Option<IpAddr>) -> Result<(), Limited> {
        address.map_or(Ok(()), |address| check(&self.hooks, &address))
    }

    /// One API or SCIM request from `address`, before its token is looked at.
    pub fn check_address(&self, address: Option<IpAddr>) -> Result<(), Limited> {
        address.map_or(Ok(()), |address| check(&self.addresses, &address))
    }

    /// One API or SCIM request of the authenticated token `token_id`.
    pub fn check_token(&self, token_id: &str) -> Result<(), Limited> {
        check(&self.tokens, &token_id.to_string())
    }

    /// Forgets clients back at a full burst (see [`FORGET_INTERVAL`]).
    pub fn forget_quiet_clients(&self) {
        if let Some(limiter) = &self.hooks {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.addresses {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.tokens {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RateLimitSettings {
        RateLimitSettings {
            hooks_per_second: 1,
            hooks_burst: 3,
            ..RateLimitSettings::default()
        }
    }

    #[test]
    fn a_flood_from_one_address_leaves_another_alone() {
        let limits = InboundLimits::new(&settings());
        let flooder: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_hook(Some(flooder)).is_ok());
        }
        let refused = limits.check_hook(Some(flooder)).unwrap_err();
        assert!((1..=2).contains(&refused.retry_after_seconds()));
        assert!(limits.check_hook(Some(other)).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let limits = InboundLimits::new(&settings());
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let headers = HeaderMap::new();
        assert_eq!(
            limits.client_address(Some(a), &headers),
            limits.client_address(Some(b), &headers)
        );
        assert_ne!(
            limits.client_address(Some(a), &headers),
            limits.client_address(Some(other), &headers)
        );
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            limits.client_address(Some(mapped), &headers),
            Some("192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let limits = InboundLimits::new(&RateLimitSettings {
            token_per_second: 0,
            ..RateLimitSettings::default()
        });
        for _ in 0..10_000 {
            assert!(limits.check_token("t").is_ok());
        }
    }

    #[test]
    fn forwarded_for_is_read_only_when_trusted_and_from_its_last_hop() {
        let mut headers = HeaderMap::new();
        headers.insert(
            actix_web::http::header::HeaderName::from_static("x-forwarded-for"),
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let untrusting = InboundLimits::new(&RateLimitSettings::default());
        assert_eq!(untrusting.client_address(Some(peer), &headers), Some(peer));
        let trusting = InboundLimits::new(&RateLimitSettings {
            trust_forwarded_for: true,
            ..RateLimitSettings::default()
        });
        assert_eq!(
            trusting.client_address(Some(peer), &headers),
            Some("198.51.100.7".parse().unwrap())
        );
    }
}
