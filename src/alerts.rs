//! Immediate alerts to the security recipients, sent by email through a job of their
//! own: an SMTP outage delays an alert (retried, re-driven), never drops it.

use lettre::message::header::ContentType;
use lettre::message::MessageBuilder;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::store::{StoreResult, Tx};

/// Where alerts go.
#[derive(Clone)]
pub struct AlertConfig {
    pub smtp_url: SecretString,
    pub from: String,
    pub to: Vec<String>,
    /// PEM of the certificate authorities to trust for the SMTP server's TLS, when
    /// it is not the public web's (`OWNERBOUND_SMTP_CA_FILE`).
    pub ca_pem: Option<Vec<u8>>,
}

/// Enqueues an alert in the caller's transaction. `key` makes it once-only. Subjects
/// and bodies name agents, people and providers, never a secret.
pub async fn enqueue(tx: &mut Tx, key: &str, subject: &str, body: &str) -> StoreResult<()> {
    crate::tasks::enqueue(
        tx,
        &crate::tasks::Task::Alert {
            subject: subject.to_string(),
            body: body.to_string(),
        },
        &crate::tasks::Schedule::now(&format!("alert:{key}")),
    )
    .await?;
    Ok(())
}

/// Sends an alert job's email. Err is a reason to retry.
pub async fn send(config: &AlertConfig, subject: &str, body: &str) -> Result<(), String> {
    let message = envelope(config, &format!("[ownerbound] {subject}"))?
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| e.to_string())?;
    transmit(config, message).await
}

/// A message to the security recipients, from the configured sender.
pub fn envelope(config: &AlertConfig, subject: &str) -> Result<MessageBuilder, String> {
    let mut message = Message::builder()
        .from(
            config
                .from
                .parse()
                .map_err(|e| format!("bad sender address: {e}"))?,
        )
        .subject(subject);
    for recipient in &config.to {
        message = message.to(recipient
            .parse()
            .map_err(|e| format!("bad recipient address: {e}"))?);
    }
    Ok(message)
}

/// Sends through `OWNERBOUND_SMTP_URL` (errors never include the URL: it may hold a
/// password).
pub async fn transmit(config: &AlertConfig, message: Message) -> Result<(), String> {
    let url = config.smtp_url.expose_secret();
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|_| "OWNERBOUND_SMTP_URL is not a usable SMTP URL".to_string())?
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let Some(pem) = &config.ca_pem {
        if let Some(tls) = tls_with_roots(url, pem)? {
            builder = builder.tls(tls);
        }
    }
    let transport = builder.build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}

/// The URL's TLS mode (`smtps://` wraps, `?tls=required|opportunistic` upgrades with
/// STARTTLS) with `pem`'s certificate authorities as the only roots; None when the
/// URL uses no TLS.
fn tls_with_roots(url: &str, pem: &[u8]) -> Result<Option<Tls>, String> {
    let parsed =
        url::Url::parse(url).map_err(|_| "OWNERBOUND_SMTP_URL is not a URL".to_string())?;
    let host = parsed
        .host_str()
        .ok_or_else(|| "OWNERBOUND_SMTP_URL has no host".to_string())?;
    let mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let params = || {
        Certificate::from_pem(pem)
            .and_then(|ca| {
                TlsParameters::builder(host.to_string())
                    .add_root_certificate(ca)
                    .build()
            })
            .map_err(|e| format!("OWNERBOUND_SMTP_CA_FILE: {e}"))
    };
    Ok(match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper(params()?)),
        (_, Some("required")) => Some(Tls::Required(params()?)),
        (_, Some("opportunistic")) => Some(Tls::Opportunistic(params()?)),
        _ => None,
    })
}
