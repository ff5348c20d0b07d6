//! The weekly report: every section rendered in HTML and text, no secret in any
//! format, and scheduled delivery to a real SMTP server (aiosmtpd) that is down at
//! the scheduled time: delivered once it returns, exactly once, across a restart.

use std::time::Duration;

use ownerbound::findings::{Catalogue, FindingsConfig};
use ownerbound::report::delivery::{tick, ReportConfig};
use ownerbound::report::schedule::Schedule;
use reqwest::header::ACCEPT;
use serde_json::{json, Value};

use crate::fake_providers::Fake;
use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::smtp_peer::SmtpServer;

const SECRETS: [&str; 5] = [
    "xoxp-report-secret-000000001",
    "ghp_reportmanualsecret00000002",
    "ghp_reportsharedsecret00000003",
    "ghp_reportbroadsecret000000004",
    "at-report-orphan-secret-000005",
];

const SECTIONS: [&str; 4] = [
    "Needs action now",
    "Orphaned agents",
    "Revoked and verified",
    "Risky credentials",
];

/// Data for every section: a leaver whose Slack token is revoked and verified and
/// whose other credential needs a manual revocation; a shadow agent; a credential
/// shared by two active owners; a broad scope.
async fn seed(app: &TestApp) {
    let fake = Fake::start(&[SECRETS[0]]);
    let boss = app
        .create_person(&json!({"emails": ["boss@example.com"], "display_name": "Grace Boss"}))
        .await;
    let leaver = app
        .create_person(&json!({"emails": ["leaver@example.com"], "display_name": "Lee Ver", "manager_id": boss["id"]}))
        .await;
    let (amy, ben) = (
        app.create_person(&json!({"emails": ["amy@example.com"]}))
            .await,
        app.create_person(&json!({"emails": ["ben@example.com"]}))
            .await,
    );
    app.create_agent(&json!({"name": "leaver-slack-bot", "owner_id": leaver["id"], "credentials": [
        {"provider": "slack", "kind": "api_key", "secret": SECRETS[0]},
        {"provider": "it-desk", "kind": "api_key", "secret": SECRETS[1], "external_id": "desk-1"}]}))
        .await;
    let shared = json!({"provider": "github", "kind": "api_key", "secret": SECRETS[2]});
    app.create_agent(&json!({"name": "amy-sync", "owner_id": amy["id"], "credentials": [shared]}))
        .await;
    app.create_agent(&json!({"name": "ben-sync", "owner_id": ben["id"], "credentials": [shared]}))
        .await;
    app.create_agent(&json!({"name": "amy-repo-bot", "owner_id": amy["id"], "credentials": [
        {"provider": "github", "kind": "oauth_access_token", "secret": SECRETS[3], "scopes": ["repo", "read:user"]}]}))
        .await;
    app.create_agent(
        &json!({"name": "shadow-<script>", "owner_email": "ghost@example.com", "credentials": [
        {"provider": "okta", "kind": "oauth_access_token", "secret": SECRETS[4]}]}),
    )
    .await;
    // Owned by the leaver and by Amy: it loses an owner and keeps one.
    app.create_agent(&json!({"name": "pair-bot", "owners": [
        {"person_id": leaver["id"]}, {"email": "amy@example.com"}]}))
        .await;
    let id = leaver["id"].as_str().unwrap();
    app.post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    app.run_jobs_with(
        json!([{"name": "slack", "kind": "slack", "api_url": format!("{}/api", fake.base)}]),
    )
    .await;
}

fn config(mail: Option<ownerbound::alerts::AlertConfig>) -> ReportConfig {
    ReportConfig {
        schedule: Schedule::parse("0 8 * * MON", "UTC").unwrap(),
        catalogue: Catalogue::from_config(&FindingsConfig::default()).unwrap(),
        public_url: Some("https://ownerbound.example.com".into()),
        mail,
    }
}

/// Asserts that no stored secret, nor more than an 8-character fingerprint prefix,
/// appears in `text`.
fn assert_no_secret(app: &TestApp, text: &str, what: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret in the {what}");
        let fingerprint = app.keys.fingerprint(secret.as_bytes());
        assert!(
            !text.contains(&fingerprint[..9]),
            "more than a fingerprint prefix in the {what}"
        );
    }
}

async fn the_report_has_every_section_in_html_text_and_json(app: TestApp) {
    seed(&app).await;
    let report = config(None)
        .build(&app.store, ownerbound::findings::Period::last_days(7))
        .await
        .unwrap();
    let html = ownerbound::report::render_html(&report);
    let text = ownerbound::report::render_text(&report);
    for section in SECTIONS {
        assert!(
            html.contains(&format!("{section} (")),
            "{section} missing in HTML"
        );
        assert!(
            text.contains(&format!("{} (", section.to_uppercase())),
            "{section} missing in text"
        );
    }
    // Each section has its rows, named by agent and owner, with what to do.
    for (needle, why) in [
        ("leaver-slack-bot", "orphaned / manual task"),
        ("Manual revocations not confirmed", "manual task"),
        ("Revoked and proven dead", "verified revocation"),
        ("Shared credentials", "shared credential"),
        ("Broad scopes", "broad scope"),
        ("manager Grace Boss", "the owner's manager"),
        ("ghost@example.com", "the shadow agent's registered owner"),
        ("Agents that lost an owner", "agents that lost an owner"),
        (
            "agent pair-bot (source api)",
            "the agent that lost an owner, with its source",
        ),
        ("lost person name: Lee Ver", "who it lost"),
        ("What to do", "actions"),
    ] {
        assert!(text.contains(needle), "text lacks {why}: {needle}");
        assert!(html.contains(needle), "HTML lacks {why}: {needle}");
    }
    assert!(report.subject.contains("need action"), "{}", report.subject);
    // Times are shown in the schedule's time zone.
    assert!(text.contains(" UTC,"), "{text}");
    let mut berlin = config(None);
    berlin.schedule = Schedule::parse("0 8 * * MON", "Europe/Berlin").unwrap();
    let local = berlin
        .build(&app.store, ownerbound::findings::Period::last_days(7))
        .await
        .unwrap();
    let local_text = ownerbound::report::render_text(&local);
    assert!(
        local_text.contains(" CET") || local_text.contains(" CEST"),
        "{local_text}"
    );
    // Names are escaped in HTML, styles are inline (mail clients drop <style>).
    assert!(html.contains("shadow-&lt;script&gt;") && !html.contains("shadow-<script>"));
    assert!(!html.contains("<style"));
    assert!(html.contains("https://ownerbound.example.com/api/v1/findings"));
    // The same report from the API, in each format.
    let json: Value = app
        .get("/api/v1/reports/preview")
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, SECTIONS);
    let response = app
        .request(reqwest::Method::GET, "/api/v1/reports/preview")
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let api_html = response.text().await.unwrap();
    let api_text = app
        .request(reqwest::Method::GET, "/api/v1/reports/preview")
        .header(ACCEPT, "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(api_text.contains("NEEDS ACTION NOW"));
    for (body, what) in [
        (html.as_str(), "HTML report"),
        (text.as_str(), "text report"),
        (&json.to_string(), "JSON report"),
        (&api_html, "HTML preview"),
        (&api_text, "text preview"),
    ] {
        assert_no_secret(&app, body, what);
    }
    // A preview changes nothing.
    let history: Value = app.get("/api/v1/reports").await.json().await.unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 0);
    // With SMTP configured, `report send` delivers at once and records it.
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let output = app.cli_with_env(
        &["report", "send"],
        &[
            ("OWNERBOUND_SMTP_URL", url.as_str()),
            ("OWNERBOUND_REPORT_TO", "security@example.com"),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(smtp.parsed().len(), 1);
    let history: Value = app.get("/api/v1/reports").await.json().await.unwrap();
    let row = &history["items"][0];
    assert_eq!(
        (row["origin"].as_str(), row["status"].as_str()),
        (Some("manual"), Some("delivered"))
    );
    // Its delivery job, due later as a fallback, sends nothing more.
    app.execute_sql("UPDATE jobs SET run_after = created_at WHERE kind = 'report'")
        .await;
    app.run_jobs_alerting(json!([]), Some(smtp.alerts())).await;
    assert_eq!(smtp.parsed().len(), 1);
}

async fn a_scheduled_report_waits_out_an_smtp_outage_and_a_restart_then_arrives_once(app: TestApp) {
    let Some(mut smtp) = SmtpServer::start() else {
        return;
    };
    seed(&app).await;
    let mut mail = smtp.alerts();
    mail.to = vec!["security@example.com".into(), "ciso@example.com".into()];
    let config = config(Some(mail.clone()));
    // The SMTP server is down at the scheduled time.
    smtp.stop();
    let now = ownerbound::store::now();
    let id = tick(&app.store, &config, now)
        .await
        .unwrap()
        .expect("a report");
    assert!(
        tick(&app.store, &config, now).await.unwrap().is_none(),
        "the period was reported twice"
    );
    app.run_jobs_alerting(json!([]), Some(mail.clone())).await;
    let history: Value = app.get("/api/v1/reports").await.json().await.unwrap();
    let row = &history["items"][0];
    assert_eq!(
        (
            row["id"].as_str(),
            row["status"].as_str(),
            row["attempts"].as_i64()
        ),
        (Some(id.as_str()), Some("pending"), Some(1))
    );
    assert!(row["last_error"].as_str().unwrap().contains("SMTP"));

    // ownerbound restarts while the server is back: the new instance's own
    // scheduler and workers deliver it. Its backoff has passed.
    smtp.restart();
    app.execute_sql("UPDATE jobs SET run_after = created_at WHERE kind = 'report'")
        .await;
    let restarted = app
        .restart_with(|settings| {
            settings.smtp_url = Some(mail.smtp_url.clone());
            settings.report_from = Some(mail.from.clone());
            settings.report_to = Some(mail.to.join(", "));
            settings.job_workers = 1;
            settings.report_check_interval_seconds = 1;
        })
        .await;
    let mut delivered = false;
    for _ in 0..300 {
        if app.store.get_report(&id).await.unwrap().status == "delivered" {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "the report was not delivered after the restart");
    restarted.cancel();
    // Later ticks and workers neither create nor send it again.
    assert!(tick(&app.store, &config, ownerbound::store::now())
        .await
        .unwrap()
        .is_none());
    app.run_jobs_alerting(json!([]), Some(mail.clone())).await;

    let messages = smtp.parsed();
    let reports: Vec<&Value> = messages
        .iter()
        .filter(|m| m["headers"]["message-id"][0] == format!("<report-{id}@ownerbound>"))
        .collect();
    assert_eq!(reports.len(), 1, "delivered {} times", reports.len());
    let message = reports[0];
    assert_eq!(message["content_type"], "multipart/alternative");
    let header = |name: &str| message["headers"][name][0].as_str().unwrap().to_string();
    assert!(
        header("subject").contains("need action"),
        "{}",
        header("subject")
    );
    assert_eq!(header("from"), "ownerbound@example.com");
    assert!(
        header("to").contains("security@example.com") && header("to").contains("ciso@example.com")
    );
    let envelope = header("x-envelope-to");
    assert!(envelope.contains("security@example.com") && envelope.contains("ciso@example.com"));
    let parts = message["parts"].as_array().unwrap();
    let kinds: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text/plain", "text/html"]);
    for section in SECTIONS {
        assert!(parts[0]["text"]
            .as_str()
            .unwrap()
            .contains(&section.to_uppercase()));
        assert!(parts[1]["text"].as_str().unwrap().contains(section));
    }
    for raw in smtp.messages() {
        assert_no_secret(&app, &raw, "email");
    }
    // What was sent can be read back: the record, and each part as sent.
    let record: Value = app
        .get(&format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "delivered");
    assert_eq!(record["summary"]["sections"][0]["title"], SECTIONS[0]);
    for (accept, part) in [("text/plain", &parts[0]), ("text/html", &parts[1])] {
        let body = app
            .request(reqwest::Method::GET, &format!("/api/v1/reports/{id}"))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // Mail has CRLF line ends; the stored part has the service's own.
        let sent = part["text"].as_str().unwrap().replace("\r\n", "\n");
        assert_eq!(body.trim_end(), sent.trim_end());
    }
    let missing = app
        .get("/api/v1/reports/01999999-0000-7000-8000-000000000000")
        .await;
    crate::helpers::assert_problem(missing, 404, "not_found").await;
    for part in parts {
        assert_no_secret(&app, part["text"].as_str().unwrap(), "decoded email");
    }
}

/// `ownerbound report preview` in each format, and `report send` without SMTP.
async fn the_cli_previews_every_format_without_secrets(app: TestApp) {
    seed(&app).await;
    for (format, needle) in [
        ("text", "NEEDS ACTION NOW"),
        ("html", "<h2 "),
        ("json", "\"sections\""),
    ] {
        let output = app.cli(&["report", "preview", "--format", format]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains(needle), "{format}: {stdout}");
        assert_no_secret(&app, &stdout, &format!("{format} preview"));
        assert_no_secret(&app, &String::from_utf8_lossy(&output.stderr), "CLI log");
    }
    // Malformed or oversized bodies are refused before anything happens.
    let response = app
        .post("/api/v1/reports/send", &json!({"period": "all"}))
        .await;
    crate::helpers::assert_problem(response, 400, "invalid_body").await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/reports/send")
        .header("content-type", "application/json")
        .body(vec![b' '; crate::helpers::TEST_MAX_BODY + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // Without SMTP, sending is refused (API and CLI) and stores nothing.
    let response = app.post("/api/v1/reports/send", &json!({})).await;
    crate::helpers::assert_problem(response, 409, "reports_not_configured").await;
    let reader = app.token_with_scope("read").await;
    let response = app
        .request_as(&reader, reqwest::Method::POST, "/api/v1/reports/send")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let output = app.cli(&["report", "send"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("OWNERBOUND_SMTP_URL"));
    let history: Value = app.get("/api/v1/reports").await.json().await.unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 0);
}

/// Instances racing for the same period make one report; an instance that starts
/// after a missed schedule catches it up with its own scheduler and workers.
async fn one_report_per_period_across_instances_and_a_missed_one_is_caught_up(app: TestApp) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    seed(&app).await;
    let mail = smtp.alerts();
    let config = config(Some(mail.clone()));
    let other = ownerbound::store::Store::connect_url(&app.database_url)
        .await
        .unwrap();
    // Last week's slot, raced by two instances.
    let last_week = ownerbound::store::now() - chrono::Duration::days(7);
    let (a, b) = tokio::join!(
        tick(&app.store, &config, last_week),
        tick(&other, &config, last_week)
    );
    let made: Vec<String> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(made.len(), 1, "{made:?}");
    // This week's slot passed while nothing ran: the next start catches it up.
    let instance = app
        .restart_with(|settings| {
            settings.smtp_url = Some(mail.smtp_url.clone());
            settings.report_from = Some(mail.from.clone());
            settings.report_to = Some(mail.to.join(","));
            settings.job_workers = 1;
        })
        .await;
    let mut reports = Value::Null;
    for _ in 0..300 {
        reports = app.get("/api/v1/reports").await.json().await.unwrap();
        let items = reports["items"].as_array().unwrap();
        if items.len() == 2 && items.iter().all(|r| r["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    instance.cancel();
    let items = reports["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{reports}");
    assert!(
        items
            .iter()
            .all(|r| r["status"] == "delivered" && r["origin"] == "schedule"),
        "{reports}"
    );
    // The caught-up period starts where the previous report ended: nothing is missed.
    assert_eq!(items[0]["period_from"], items[1]["period_to"]);
    assert_eq!(smtp.parsed().len(), 2);
}

/// A relay that requires STARTTLS (a private CA's certificate) and SMTP AUTH: trusted
/// through `OWNERBOUND_SMTP_CA_FILE`, refused without it; the password never shows.
async fn a_report_reaches_a_relay_that_requires_starttls_and_auth(app: TestApp) {
    let password = "relay-password-0001";
    let Some(relay) = SmtpServer::start_secure("ownerbound", password) else {
        return;
    };
    seed(&app).await;
    let mut mail = relay.server.alerts();
    mail.smtp_url = secrecy::SecretString::from(format!(
        "smtp://ownerbound:{password}@localhost:{}?tls=required",
        relay.server.port
    ));
    let report = config(None)
        .build(&app.store, ownerbound::findings::Period::last_days(7))
        .await
        .unwrap();
    let id = ownerbound::report::delivery::store_and_enqueue(
        &app.store,
        &report,
        "manual",
        None,
        &mail.to,
        ownerbound::store::now(),
    )
    .await
    .unwrap()
    .unwrap();
    use ownerbound::report::delivery::{deliver, DeliveryError};
    // The relay's certificate is not from a public CA: refused, retried later.
    let outcome = deliver(&app.store, Some(&mail), &id).await.unwrap();
    assert!(
        matches!(outcome, Err(DeliveryError::Transient(_))),
        "{outcome:?}"
    );
    assert!(relay.server.parsed().is_empty());
    let failed = app.store.get_report(&id).await.unwrap();
    assert!(!failed.last_error.unwrap().contains(password));
    // Trusting the relay's CA: STARTTLS, then AUTH, then the message.
    mail.ca_pem = Some(relay.ca_pem.clone().into_bytes());
    let outcome = deliver(&app.store, Some(&mail), &id).await.unwrap();
    assert_eq!(outcome, Ok(()));
    let messages = relay.server.parsed();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["headers"]["x-authenticated-as"][0],
        "ownerbound"
    );
    assert!(!crate::helpers::captured_logs().contains(password));
}

on_both_engines!(
    a_report_reaches_a_relay_that_requires_starttls_and_auth,
    one_report_per_period_across_instances_and_a_missed_one_is_caught_up,
    the_cli_previews_every_format_without_secrets,
    the_report_has_every_section_in_html_text_and_json,
    a_scheduled_report_waits_out_an_smtp_outage_and_a_restart_then_arrives_once,
);
