//! Report generation at scale: `cargo bench --bench report`.
//!
//! Seeds 100,000 agents and 300,000 credentials (50,000 people, a tenth of them
//! departed; 5% of agents with an owner unknown to the directory; a tenth of the
//! credentials shared with a second agent; a mix of kinds, ages, expiries and broad
//! scopes; offboarding cases for the departed, 30,000 items in every state, some
//! with collateral), then
//! prints the time to compute the findings and render the report, and
//! the peak memory (VmHWM, reset after seeding) of doing so. SQLite by default;
//! OWNERBOUND_BENCH_POSTGRES_URL for PostgreSQL. OWNERBOUND_BENCH_AGENTS scales it.

use std::time::Instant;

use ownerbound::findings::{Catalogue, FindingsConfig, Period};
use ownerbound::report::{render_html, render_text, Report};
use ownerbound::store::Store;

/// A subquery yielding `i` in 0..n, per engine.
fn series(engine: &str, n: usize) -> String {
    match engine {
        "sqlite" => format!(
            "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s) AS n",
            n - 1
        ),
        _ => format!("(SELECT generate_series(0, {}) AS i) AS n", n - 1),
    }
}

/// A timestamp `days` (an SQL expression) before now, per engine.
fn days_ago(engine: &str, days: &str) -> String {
    match engine {
        "sqlite" => format!("strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', (-({days})) || ' days')"),
        _ => format!("now() - ({days}) * interval '1 day'"),
    }
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let agents: usize = std::env::var("OWNERBOUND_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (people, credentials) = (agents / 2, agents * 3);
    let dir = tempfile::tempdir().unwrap();
    let (url, engine) = match std::env::var("OWNERBOUND_BENCH_POSTGRES_URL") {
        Ok(url) => (url, "postgres"),
        Err(_) => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            "sqlite",
        ),
    };
    let store = Store::connect_url(&url).await.unwrap();
    store.migrate().await.unwrap();
    let started = Instant::now();
    let pad = |expr: &str| match engine {
        "sqlite" => format!("printf('%08d', {expr})"),
        _ => format!("lpad(({expr})::text, 8, '0')"),
    };
    let boolean = |expr: &str| match engine {
        "sqlite" => format!("CASE WHEN {expr} THEN 1 ELSE 0 END"),
        _ => format!("({expr})"),
    };
    let ts = |days: &str| days_ago(engine, days);
    let statements = [
        format!(
            "INSERT INTO people (id, source, user_name, user_name_key, display_name, manager_id, active, version, created_at, updated_at) \
             SELECT 'p-' || {id}, 'scim', 'user' || i || '@example.com', 'user' || i || '@example.com', 'Person ' || i, NULL, {active}, 1, {now}, {now} FROM {series}",
            id = pad("i"), active = boolean("i % 10 <> 0"), now = ts("0"), series = series(engine, people)
        ),
        format!(
            "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) \
             SELECT 'p-' || {id}, 'user' || i || '@example.com', 'user' || i || '@example.com', 'work', {yes} FROM {series}",
            id = pad("i"), yes = boolean("1 = 1"), series = series(engine, people)
        ),
        format!(
            "INSERT INTO lifecycle_events (id, person_id, kind, source, actor, occurred_at, processed_at) \
             SELECT 'le-' || {id}, 'p-' || {id}, 'person-deactivated', 'scim', 'bench', {at}, {at} FROM {series} WHERE i % 10 = 0",
            id = pad("i"), at = ts("i % 30"), series = series(engine, people)
        ),
        // Agent i belongs to person i / 2; one in twenty has an unknown owner.
        format!(
            "INSERT INTO agents (id, name, name_key, platform, status, owner_id, owner_email, owner_email_key, used_scopes, created_at, updated_at) \
             SELECT 'a-' || {id}, 'agent-' || i, 'agent-' || i, 'bench', 'active', \
             CASE WHEN i % 20 = 7 THEN NULL ELSE 'p-' || {owner} END, \
             CASE WHEN i % 20 = 7 THEN 'ghost' || i || '@example.com' ELSE 'user' || (i / 2) || '@example.com' END, \
             CASE WHEN i % 20 = 7 THEN 'ghost' || i || '@example.com' ELSE 'user' || (i / 2) || '@example.com' END, \
             CASE WHEN i % 4 = 0 THEN '[\"read:user\"]' ELSE NULL END, {now}, {now} FROM {series}",
            id = pad("i"), owner = pad("i / 2"), now = ts("0"), series = series(engine, agents)
        ),
        // Credential i belongs to agent i / 3: kinds, ages, expiries and scopes vary.
        format!(
            "INSERT INTO credentials (id, provider, kind, external_id, scopes, issued_at, expires_at, fingerprint, status, created_at, updated_at) \
             SELECT 'c-' || {id}, CASE i % 3 WHEN 0 THEN 'github' WHEN 1 THEN 'okta' ELSE 'google' END, \
             CASE i % 4 WHEN 0 THEN 'oauth_access_token' WHEN 1 THEN 'oauth_refresh_token' WHEN 2 THEN 'api_key' ELSE 'service_account_key' END, \
             'ext-' || i, \
             CASE i % 7 WHEN 0 THEN '[\"repo\",\"read:user\"]' WHEN 1 THEN '[\"https://www.googleapis.com/auth/drive\"]' ELSE '[\"read:user\"]' END, \
             {issued}, CASE WHEN i % 5 = 0 THEN NULL ELSE {expires} END, \
             {fp}, 'active', {now}, {now} FROM {series}",
            id = pad("i"), issued = ts("i % 200"), expires = ts("-30"), now = ts("0"),
            fp = match engine { "sqlite" => "printf('%064x', i)", _ => "lpad(to_hex(i), 64, '0')" },
            series = series(engine, credentials)
        ),
        format!(
            "INSERT INTO agent_credentials (agent_id, credential_id, linked_at) \
             SELECT 'a-' || {agent}, 'c-' || {id}, {now} FROM {series}",
            agent = pad("i / 3"), id = pad("i"), now = ts("0"), series = series(engine, credentials)
        ),
        // A tenth of the credentials are shared with the next agent (often another owner's).
        format!(
            "INSERT INTO agent_credentials (agent_id, credential_id, linked_at) \
             SELECT 'a-' || {agent}, 'c-' || {id}, {now} FROM {series} WHERE i % 10 = 0 AND i / 3 + 1 < {agents}",
            agent = pad("i / 3 + 1"), id = pad("i"), now = ts("0"), agents = agents, series = series(engine, credentials)
        ),
        // The departed tenth have cases: each credential of their agents is an item,
        // mostly proven dead, some waiting for a human, failed, alive or in progress;
        // shared ones name the next agent as collateral.
        format!(
            "INSERT INTO offboarding_cases (id, person_id, lifecycle_event_id, triggered_by, policy, status, opened_at) \
             SELECT 'oc-' || {id}, 'p-' || {id}, 'le-' || {id}, 'scim', 'revoke', 'open', {at} FROM {series} WHERE i % 10 = 0",
            id = pad("i"), at = ts("i % 30"), series = series(engine, people)
        ),
        format!(
            "INSERT INTO offboarding_items (id, case_id, credential_id, agent_ids, collateral, action, status, detail, created_at, updated_at) \
             SELECT 'oi-' || {id}, 'oc-' || {person}, 'c-' || {id}, '[\"a-' || {agent} || '\"]', \
             CASE WHEN i % 6 = 5 THEN '[{{\"agent_id\":\"a-' || {next} || '\"}}]' ELSE '[]' END, 'revoke', \
             CASE WHEN {mix} < 14 THEN 'verified_dead' WHEN {mix} < 16 THEN 'manual_task_open' \
                  WHEN {mix} < 18 THEN 'needs_attention' WHEN {mix} = 18 THEN 'still_alive' ELSE 'revoking' END, \
             'bench', {at}, {at} FROM {series} WHERE (i / 6) % 10 = 0 AND (i / 3) % 20 <> 7",
            id = pad("i"), person = pad("i / 6"), agent = pad("i / 3"), next = pad("i / 3 + 1"),
            at = ts("i % 30"), mix = "((i * 7 + i / 60) % 20)", series = series(engine, credentials)
        ),
        // The last credential of each departed person is shared with the next
        // person's first agent: collateral.
        format!(
            "INSERT INTO agent_credentials (agent_id, credential_id, linked_at) \
             SELECT 'a-' || {next}, 'c-' || {id}, {now} FROM {series} \
             WHERE (i / 6) % 10 = 0 AND i % 6 = 5 AND i % 10 <> 0 AND i / 3 + 1 < {agents}",
            next = pad("i / 3 + 1"), id = pad("i"), now = ts("0"), agents = agents,
            series = series(engine, credentials)
        ),
        "UPDATE credentials SET status = 'verified_dead' WHERE id IN \
         (SELECT credential_id FROM offboarding_items WHERE status = 'verified_dead')"
            .to_string(),
    ];
    for sql in &statements {
        store.execute_unprepared(sql).await.unwrap();
    }
    if engine == "postgres" {
        store.execute_unprepared("ANALYZE").await.unwrap();
    }
    println!(
        "[{engine}] seeded {people} people, {agents} agents, {credentials} credentials in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Measured: findings (counts + first rows per kind) and both renderings.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_kib();
    let catalogue = Catalogue::from_config(&FindingsConfig::default()).unwrap();
    let started = Instant::now();
    let report = Report::build(
        &store,
        &catalogue,
        Period::last_days(7),
        Some("https://ob.example.com"),
        chrono_tz::Tz::UTC,
    )
    .await
    .unwrap();
    let built = started.elapsed();
    let html = render_html(&report);
    let text = render_text(&report);
    let total = started.elapsed();
    println!(
        "[{engine}] report: {} findings counted; built in {:.2} s, rendered in {:.1} ms \
         (HTML {} KiB, text {} KiB); peak memory {} MiB (VmHWM; {} MiB before generating)",
        report.counts.total,
        built.as_secs_f64(),
        (total - built).as_secs_f64() * 1000.0,
        html.len() / 1024,
        text.len() / 1024,
        peak_kib() / 1024,
        before / 1024,
    );
    for section in &report.sections {
        println!("  {}: {}", section.title, section.total);
    }
    for (kind, n) in &report.counts.by_kind {
        println!("    {kind}: {n}");
    }
}
