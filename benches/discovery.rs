//! Discovery throughput against a real, stateful IAM: `cargo bench --bench discovery`.
//!
//! Seeds `moto_server` (tests/peers/requirements.txt) with OWNERBOUND_BENCH_USERS IAM
//! users (default 10,000), each with two access keys (IAM's limit per user, so the
//! issue's "3 keys" cannot exist there) and an owner tag. Then, in the same run:
//! - moto's own listing throughput: a bare client making exactly the calls a
//!   discovery makes (`ListUsers` pages, each user's `ListAccessKeys` and
//!   `ListUserTags`, each key's `GetAccessKeyLastUsed`), one at a time as discovery
//!   does, reading nothing else;
//! - one discovery run of ownerbound (SQLite by default; OWNERBOUND_BENCH_POSTGRES_URL
//!   for PostgreSQL): the same calls, SigV4-signed, plus parsing, attribution and one
//!   transaction per page, into a database where every owner is a person;
//! - the ratio of the two (keys per second), and the memory the run took (peak
//!   resident set during the run above the resident set before it, sampled every
//!   10 ms). moto checks no signatures here (as in its default), for both.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

#[path = "../tests/api/fault_proxy.rs"]
#[allow(dead_code, reason = "the benchmark uses only the port picker")]
mod fault_proxy;
#[path = "../tests/api/moto_peer.rs"]
#[allow(
    dead_code,
    reason = "the benchmark uses only part of the tests' harness"
)]
mod moto_peer;

mod common;

use common::{env_usize, BenchDatabase};

/// Users per `ListUsers` page, as the connector asks.
const PAGE: usize = 100;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Every `<tag>value</tag>` in `xml`.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next().map(str::to_string))
        .collect()
}

/// moto's own throughput for discovery's calls: keys listed per second (ownerbound's
/// own key aside, as discovery leaves it out).
async fn raw_listing(moto: &moto_peer::Moto, own_key: &str) -> (usize, Duration) {
    let started = Instant::now();
    let mut keys = 0;
    let mut marker: Option<String> = None;
    loop {
        let max = PAGE.to_string();
        let mut params = vec![("MaxItems", max.as_str())];
        if let Some(m) = &marker {
            params.push(("Marker", m.as_str()));
        }
        let page = moto.call("ListUsers", &params).await.unwrap();
        for user in elements(&page, "UserName") {
            let listed = moto
                .call("ListAccessKeys", &[("UserName", &user)])
                .await
                .unwrap();
            moto.call("ListUserTags", &[("UserName", &user)])
                .await
                .unwrap();
            for key in elements(&listed, "AccessKeyId")
                .into_iter()
                .filter(|k| k != own_key)
            {
                moto.call("GetAccessKeyLastUsed", &[("AccessKeyId", &key)])
                    .await
                    .unwrap();
                keys += 1;
            }
        }
        marker = elements(&page, "Marker").into_iter().next();
        if !page.contains("<IsTruncated>true</IsTruncated>") || marker.is_none() {
            break;
        }
    }
    (keys, started.elapsed())
}

#[tokio::main]
async fn main() {
    let users = env_usize("OWNERBOUND_BENCH_USERS", 10_000);
    let moto = moto_peer::Moto::start()
        .await
        .expect("moto_server installed");
    moto.create_user("ownerbound").await;
    let (own_id, own_secret) = moto.create_access_key("ownerbound").await;

    let dir = tempfile::tempdir().unwrap();
    let database = BenchDatabase::create(dir.path()).await;
    let store = ownerbound::store::Store::connect_url(&database.url)
        .await
        .unwrap();
    store.migrate().await.unwrap();

    let seeding = Instant::now();
    stream::iter(0..users)
        .for_each_concurrent(16, |i| {
            let moto = &moto;
            let store = &store;
            async move {
                let user = format!("svc-{i:05}");
                let owner = format!("owner-{i:05}@example.com");
                moto.create_user(&user).await;
                moto.tag_user(&user, "owner", &owner).await;
                moto.create_access_key(&user).await;
                moto.create_access_key(&user).await;
                let mut tx = store.begin().await.unwrap();
                let fields = ownerbound::store::people::PersonFields {
                    user_name: None,
                    external_id: None,
                    display_name: None,
                    given_name: None,
                    family_name: None,
                    employee_number: None,
                    manager_id: None,
                    active: true,
                };
                let id = tx
                    .insert_person(ownerbound::domain::PersonSource::Api, &fields)
                    .await
                    .unwrap();
                let email = ownerbound::store::people::PersonEmail {
                    value: owner,
                    kind: None,
                    is_primary: true,
                };
                tx.replace_emails(&id, &[email]).await.unwrap();
                tx.commit().await.unwrap();
            }
        })
        .await;
    println!(
        "seeded {users} IAM users × 2 keys and {users} people in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let (raw_keys, raw_time) = raw_listing(&moto, &own_id).await;
    let raw_rate = raw_keys as f64 / raw_time.as_secs_f64();
    println!(
        "moto's own listing: {raw_keys} keys in {:.1} s = {raw_rate:.0} keys/s",
        raw_time.as_secs_f64()
    );

    let providers: Vec<ownerbound::connectors::providers::ProviderConfig> =
        serde_json::from_value(serde_json::json!([{
            "name": "aws", "kind": "aws_iam", "endpoint": moto.endpoint,
            "access_key_id": own_id, "secret_access_key": own_secret, "discover": true,
        }]))
        .unwrap();
    let keys = ownerbound::crypto::SecretKeys::new(
        &ownerbound::crypto::MasterKey::parse(&"ab".repeat(32)).unwrap(),
    );
    let ctx = ownerbound::jobs::Context::new(
        store.clone(),
        std::sync::Arc::new(
            ownerbound::connectors::providers::index(&providers, &mut |_| {}).unwrap(),
        ),
        keys,
        ownerbound::jobs::http_client(),
    );
    let before = resident_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let runner = ownerbound::discovery::Runner {
        trigger: "cli",
        holder: "bench",
        job_id: None,
    };
    let started = Instant::now();
    let outcome = ownerbound::discovery::run(&ctx, "aws", &runner)
        .await
        .unwrap();
    let took = started.elapsed();
    sampling.abort();
    let ownerbound::discovery::RunOutcome::Finished(run) = outcome else {
        panic!("the run did not finish: {outcome:?}");
    };
    assert_eq!(run.counts.listed as usize, raw_keys, "{run:?}");
    assert_eq!(run.counts.shadow, 0, "{run:?}");
    let rate = run.counts.listed as f64 / took.as_secs_f64();
    let grown = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "ownerbound discovery ({}): {} keys in {:.1} s = {rate:.0} keys/s, {} pages, {} discovered agents",
        database.engine,
        run.counts.listed,
        took.as_secs_f64(),
        run.counts.pages,
        users
    );
    println!("ratio to moto's own listing: {:.3}", rate / raw_rate);
    println!(
        "memory of the run: peak resident set {:.1} MiB above the {:.1} MiB before it",
        grown as f64 / 1024.0,
        before as f64 / 1024.0
    );
    database.drop_database().await;
}
