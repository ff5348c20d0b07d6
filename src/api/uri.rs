//! Checks of the request target, made by each scope before authentication so that it
//! can refuse a bad URL in its own format (a problem on `/api/v1`, a SCIM error on
//! `/scim/v2`).
//!
//! Left to itself, actix serves any target up to 64 KiB (the `http` crate's limit; up
//! to 128 KiB of head, then 431), answering longer ones with an empty 400 before any
//! route is known; it passes `%00` through to handlers, and it decodes percent-escapes
//! of the path and query lossily (bytes that are not UTF-8 become U+FFFD), so a
//! filter for `"%FF%FE"` would search for something the client never sent.

use actix_web::http::Uri;
use percent_encoding::percent_decode;

/// Longest request target (path and query) served. Far more than a SCIM filter (at
/// most 4 KiB) or an API query needs, and the limit most servers and proxies apply,
/// so the service refuses a longer URL itself, in the scope's format, instead of
/// leaving it to actix's format-less limits far above.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// What is wrong with a request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriFault {
    /// Longer than [`MAX_URI_BYTES`].
    TooLong { len: usize },
    /// A `%00`: PostgreSQL cannot store NUL, so both engines refuse it alike.
    Nul(UriPart),
    /// Percent-escapes that do not decode to UTF-8.
    NotUtf8(UriPart),
}

/// Where in the request target a fault is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPart {
    Path,
    /// The name of a query parameter.
    ParamName,
    /// The value of the query parameter of this name.
    Param(String),
}

impl UriFault {
    /// The query parameter whose value is at fault, if that is where the fault is.
    pub fn param(&self) -> Option<&str> {
        match self {
            UriFault::Nul(UriPart::Param(name)) | UriFault::NotUtf8(UriPart::Param(name)) => {
                Some(name)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for UriPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UriPart::Path => f.write_str("the URL path"),
            UriPart::ParamName => f.write_str("a query parameter name"),
            UriPart::Param(name) => write!(f, "query parameter {name}"),
        }
    }
}

impl std::fmt::Display for UriFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UriFault::TooLong { len } => write!(
                f,
                "the URL is {len} bytes long; at most {MAX_URI_BYTES} are served"
            ),
            UriFault::Nul(part) => write!(f, "{part} must not contain NUL characters"),
            UriFault::NotUtf8(part) => {
                write!(f, "{part} has percent-encoded bytes that are not UTF-8")
            }
        }
    }
}

/// Checks the length of the request target, then that its path and each query
/// parameter's name and value decode to UTF-8 without NUL.
pub fn check(uri: &Uri) -> Result<(), UriFault> {
    let target = uri.path_and_query().map_or("", |pq| pq.as_str());
    if target.len() > MAX_URI_BYTES {
        return Err(UriFault::TooLong { len: target.len() });
    }
    decode(uri.path()).map_err(|bad| bad.at(UriPart::Path))?;
    for pair in uri.query().unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        // In a query, as serde_urlencoded reads it, `+` is a space.
        let name = decode(&name.replace('+', " ")).map_err(|bad| bad.at(UriPart::ParamName))?;
        decode(value).map_err(|bad| bad.at(UriPart::Param(name)))?;
    }
    Ok(())
}

/// Why a part did not decode.
enum Undecodable {
    Nul,
    NotUtf8,
}

impl Undecodable {
    fn at(self, part: UriPart) -> UriFault {
        match self {
            Undecodable::Nul => UriFault::Nul(part),
            Undecodable::NotUtf8 => UriFault::NotUtf8(part),
        }
    }
}

/// Percent-decodes strictly. A `%` without two hex digits stays a literal `%`, as
/// actix and serde_urlencoded read it.
fn decode(raw: &str) -> Result<String, Undecodable> {
    let bytes: Vec<u8> = percent_decode(raw.as_bytes()).collect();
    if bytes.contains(&0) {
        return Err(Undecodable::Nul);
    }
    String::from_utf8(bytes).map_err(|_| Undecodable::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_str(uri: &str) -> Result<(), UriFault> {
        check(&uri.parse().unwrap())
    }

    #[test]
    fn ordinary_urls_pass_with_escaped_utf8_and_stray_percent_signs() {
        assert_eq!(check_str("/scim/v2/Users"), Ok(()));
        assert_eq!(
            check_str("/scim/v2/Users?filter=userName%20eq%20%22Ren%C3%A9e%22&count=1"),
            Ok(())
        );
        assert_eq!(check_str("/api/v1/agents?owner=100%zz&&flag"), Ok(()));
    }

    #[test]
    fn nul_is_refused_naming_where_it_is() {
        assert_eq!(
            check_str("/api/v1/people/%00"),
            Err(UriFault::Nul(UriPart::Path))
        );
        let fault = check_str("/scim/v2/Users?count=1&filter=a%00b").unwrap_err();
        assert_eq!(fault, UriFault::Nul(UriPart::Param("filter".into())));
        assert_eq!(fault.param(), Some("filter"));
        assert_eq!(
            check_str("/scim/v2/Users?a%00=1"),
            Err(UriFault::Nul(UriPart::ParamName))
        );
    }

    #[test]
    fn escapes_that_are_not_utf8_are_refused_not_replaced() {
        assert_eq!(
            check_str("/scim/v2/Users?filter=userName%20eq%20%22%FF%FE%22"),
            Err(UriFault::NotUtf8(UriPart::Param("filter".into())))
        );
        assert_eq!(
            check_str("/scim/v2/Users/%C3"),
            Err(UriFault::NotUtf8(UriPart::Path))
        );
        assert_eq!(
            check_str("/scim/v2/Users?sort%FFBy=x"),
            Err(UriFault::NotUtf8(UriPart::ParamName))
        );
    }

    #[test]
    fn the_request_target_is_bounded_at_8_kib() {
        let at_limit = format!("/a?q={}", "x".repeat(MAX_URI_BYTES - 5));
        assert_eq!(at_limit.len(), MAX_URI_BYTES);
        assert_eq!(check_str(&at_limit), Ok(()));
        assert_eq!(
            check_str(&format!("{at_limit}x")),
            Err(UriFault::TooLong {
                len: MAX_URI_BYTES + 1
            })
        );
    }
}
