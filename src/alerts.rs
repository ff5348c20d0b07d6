//! Immediate alerts to the security recipients, sent by email through a job of their
//! own: an SMTP outage delays an alert (retried, re-driven), never drops it.

use lettre::message::header::ContentType;
use lettre::message::MessageBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::store::jobs::NewJob;
use crate::store::{StoreResult, Tx};

/// Attempts before an alert job is dead (it is re-driven after a day anyway).
const ALERT_ATTEMPTS: i64 = 30;

/// Where alerts go.
#[derive(Clone)]
pub struct AlertConfig {
    pub smtp_url: SecretString,
    pub from: String,
    pub to: Vec<String>,
}

impl AlertConfig {
    /// From the settings; None when SMTP or the recipients are not configured.
    pub fn from_settings(settings: &crate::config::Settings) -> Option<Self> {
        let to: Vec<String> = settings
            .report_to
            .as_deref()?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if to.is_empty() {
            return None;
        }
        Some(Self {
            smtp_url: settings.smtp_url.clone()?,
            from: settings
                .report_from
                .clone()
                .unwrap_or_else(|| "ownerbound@localhost".into()),
            to,
        })
    }
}

/// Enqueues an alert in the caller's transaction. `key` makes it once-only. Subjects
/// and bodies name agents, people and providers, never a secret.
pub async fn enqueue(tx: &mut Tx, key: &str, subject: &str, body: &str) -> StoreResult<()> {
    tx.enqueue_job(&NewJob {
        kind: "alert",
        dedupe_key: &format!("alert:{key}"),
        payload: &json!({"subject": subject, "body": body}),
        provider: None,
        max_attempts: ALERT_ATTEMPTS,
        run_after: crate::store::now(),
    })
    .await?;
    Ok(())
}

/// Sends an alert job's email. Err is a reason to retry.
pub async fn send(config: &AlertConfig, payload: &Value) -> Result<(), String> {
    let text = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message = envelope(config, &format!("[ownerbound] {}", text("subject")))?
        .header(ContentType::TEXT_PLAIN)
        .body(text("body"))
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
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose_secret())
        .map_err(|_| "OWNERBOUND_SMTP_URL is not a usable SMTP URL".to_string())?
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}
