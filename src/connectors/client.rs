//! The HTTP client every connector calls providers with, and the bounds on one call.

use std::time::Duration;

/// Default per-call deadline at a provider (`call_timeout_seconds`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `call_timeout_seconds` a provider may set.
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client of connectors: a short connect timeout (a provider that does not
/// accept connections is down), and an overall bound as a backstop; each call also
/// runs under its provider's `call_timeout_seconds`.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        // A redirect would resend the token (and client credentials) elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(MAX_CALL_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .expect("TLS backend available")
}
