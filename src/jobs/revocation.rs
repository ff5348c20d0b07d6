//! The revocation jobs: revoke through the credential's connector and prove it dead,
//! open a manual task when the provider has no API, and verify again after the
//! provider's propagation window.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Context, Outcome, Slot};
use crate::audit::AuditEntry;
use crate::connectors::{Connector, Revocation, Target, Verdict};
use crate::store::jobs::Job;
use crate::store::{now, StoreResult, Tx};
use crate::tasks::{ItemRef, Schedule, Task};

/// The outcome of a job that reached a provider job without a slot (a runner that
/// did not take one): soon again.
fn busy() -> Outcome {
    Outcome::Defer {
        after: Duration::from_secs(1),
    }
}

/// The per-call deadline at a provider: `call_timeout_seconds`, else the default.
fn call_timeout(config: &crate::connectors::providers::ProviderConfig) -> Duration {
    config
        .options
        .get("call_timeout_seconds")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(super::DEFAULT_CALL_TIMEOUT)
}

/// Runs one provider call within the provider's call deadline; a provider that
/// does not answer in time gives `timed_out`'s result (a transient failure: retried,
/// and alerted as an outage).
async fn within<T>(
    config: &crate::connectors::providers::ProviderConfig,
    call: impl std::future::Future<Output = T>,
    timed_out: impl FnOnce(String) -> T,
) -> T {
    let limit = call_timeout(config);
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer,
        Err(_) => timed_out(format!(
            "no answer within {} s (call_timeout_seconds)",
            limit.as_secs_f64()
        )),
    }
}

/// [`Connector::revoke`] within the call deadline.
async fn revoke_within(
    connector: &Connector,
    ctx: &Context,
    config: &crate::connectors::providers::ProviderConfig,
    target: &Target,
) -> Revocation {
    within(config, connector.revoke(&ctx.http, target), |error| {
        Revocation::Retry { error, after: None }
    })
    .await
}

/// [`Connector::verify`] within the call deadline.
async fn verify_within(
    connector: &Connector,
    ctx: &Context,
    config: &crate::connectors::providers::ProviderConfig,
    target: &Target,
) -> Verdict {
    within(
        config,
        connector.verify(&ctx.http, target),
        Verdict::Unknown,
    )
    .await
}

/// The outcome of a job that must wait for its provider's rate limit.
fn paced(wait: Duration) -> Outcome {
    Outcome::Defer { after: wait }
}

/// Revocation through the credential's provider. A `manual` provider opens a task
/// that stays open until someone confirms it. A provider that is not configured is a
/// configuration error: the item needs a human and the job ends dead with the reason
/// (it is not retried).
pub(super) async fn revoke(
    ctx: &Context,
    job: &Job,
    item_ref: &ItemRef,
    slot: Option<Slot>,
) -> StoreResult<Outcome> {
    let provider_name = job.provider.clone().unwrap_or_default();
    let item = item_ref.item_id.as_str();
    if settled_by_hand(ctx, item).await? {
        return Ok(Outcome::Done);
    }
    let Some(provider) = ctx.providers.get(&provider_name) else {
        let reason =
            format!("no provider {provider_name:?} is configured; revoke this credential by hand");
        ctx.store
            .set_case_item(item, "needs_attention", Some(&reason))
            .await?;
        return Ok(Outcome::Permanent(reason));
    };
    match (&provider.connector, slot) {
        (None, _) => open_manual_task(ctx, &provider_name, item_ref).await,
        (Some(connector), Some(slot)) => {
            revoke_and_verify(ctx, job, provider, connector, item_ref, slot).await
        }
        (Some(_), None) => Ok(busy()),
    }
}

async fn open_manual_task(
    ctx: &Context,
    provider: &str,
    item_ref: &ItemRef,
) -> StoreResult<Outcome> {
    let item = item_ref.item_id.as_str();
    let detail = format!(
        "revoke this credential at {provider:?} by hand, then confirm: POST /api/v1/offboardings/items/{item}/confirm"
    );
    ctx.store
        .set_case_item(item, "manual_task_open", Some(&detail))
        .await?;
    let case_id = Some(item_ref.case_id.as_str());
    let mut tx = ctx.store.begin().await?;
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "offboarding.manual_task_opened",
            "offboarding_case",
            case_id,
        )
        .with_details(json!({"item_id": item, "provider": provider})),
    )
    .await?;
    crate::alerts::enqueue(
        &mut tx,
        &format!("manual:{item}"),
        &format!("manual revocation needed at {provider}"),
        &format!(
            "A departed person's credential at {provider:?} has no API to revoke it.\n\n{detail}"
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// Revocation, then verification. The credential is proven dead before the job is
/// done: still alive means revoke again, unknown means verify again later (both
/// through the retry path, with backoff).
async fn revoke_and_verify(
    ctx: &Context,
    job: &Job,
    provider: &crate::connectors::providers::Provider,
    connector: &Connector,
    item_ref: &ItemRef,
    slot: Slot,
) -> StoreResult<Outcome> {
    let config = &provider.config;
    let item = item_ref.item_id.as_str();
    let credential_id = item_ref.credential_id.as_str();
    let target = target(ctx, credential_id).await?;
    let case_id = Some(item_ref.case_id.as_str());
    if let Err(wait) = slot.ready().await {
        return Ok(paced(wait));
    }
    let revocation = revoke_within(connector, ctx, config, &target).await;
    let attempt = AuditEntry::new(
        "system",
        "offboarding.revocation_attempt",
        "offboarding_case",
        case_id,
    )
    .with_details(
        json!({"item_id": item, "provider": config.name, "result": format!("{revocation:?}")}),
    );
    match revocation {
        Revocation::Revoked | Revocation::Ambiguous(_) => {}
        Revocation::Retry { error, after } => {
            record(ctx, job, attempt, item, "revoking", &error).await?;
            return Ok(Outcome::ProviderFailed { error, after });
        }
        Revocation::Permanent(reason) => {
            record(ctx, job, attempt, item, "needs_attention", &reason).await?;
            return Ok(Outcome::Permanent(reason));
        }
    }
    if let Err(wait) = slot.ready().await {
        // Revoked but not yet verified: the retry revokes again (idempotent) first.
        record(
            ctx,
            job,
            attempt,
            item,
            "revoking",
            "waiting for the provider's rate limit",
        )
        .await?;
        return Ok(paced(wait));
    }
    let verdict = verify_within(connector, ctx, config, &target).await;
    let verification = AuditEntry::new(
        "system",
        "offboarding.verification",
        "offboarding_case",
        case_id,
    )
    .with_details(json!({"item_id": item, "verdict": format!("{verdict:?}")}));
    match verdict {
        Verdict::Dead(how) => {
            // Providers propagate revocations with delay (caches, replicas): check
            // again once the provider's propagation window has passed. The proof,
            // its audit entries and that check are one write.
            let window = config
                .options
                .get("propagation_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_PROPAGATION_SECONDS);
            let mut tx = ctx.store.begin().await?;
            tx.append_audit(&attempt).await?;
            tx.append_audit(&verification).await?;
            tx.set_credential_status(credential_id, crate::domain::CredentialStatus::VerifiedDead)
                .await?;
            crate::tasks::enqueue(
                &mut tx,
                &Task::Verify(item_ref.clone()),
                &Schedule {
                    dedupe_key: &format!("verify:{item}"),
                    provider: Some(&config.name),
                    run_after: now() + chrono::Duration::seconds(window as i64),
                },
            )
            .await?;
            if let Some(after) = connector.delete_after() {
                crate::tasks::enqueue(
                    &mut tx,
                    &Task::Delete(item_ref.clone()),
                    &Schedule {
                        dedupe_key: &format!("delete:{item}"),
                        provider: Some(&config.name),
                        run_after: now() + chrono::Duration::from_std(after).unwrap_or_default(),
                    },
                )
                .await?;
            }
            answered(&mut tx, ctx, &config.name).await?;
            // Lost lease: the proof stands; whoever holds the job now redoes it
            // (revocation is idempotent).
            let _ = tx
                .complete_job(&job.id, job.lease_owner.as_deref().unwrap_or_default())
                .await?;
            // Last: settling the item takes its case's lock (see `LockKey::Case`),
            // which the other items of the case wait for until this commits.
            tx.set_case_item(item, "verified_dead", Some(how)).await?;
            tx.commit().await?;
            Ok(Outcome::Completed)
        }
        Verdict::Alive => {
            let Some(mut tx) = fenced(ctx, job).await? else {
                return Ok(Outcome::Completed);
            };
            tx.append_audit(&attempt).await?;
            tx.append_audit(&verification).await?;
            answered(&mut tx, ctx, &config.name).await?;
            crate::alerts::enqueue(
                &mut tx,
                &format!("alive:{item}:{}", now().timestamp_micros()),
                &format!("credential still alive at {} after revocation", config.name),
                &format!(
                    "Credential {credential_id} of offboarding case {} was revoked, but {} still calls it active. \
                     ownerbound revokes it again.",
                    item_ref.case_id,
                    config.name
                ),
            )
            .await?;
            tx.set_case_item(
                item,
                "still_alive",
                Some("the provider still calls it active; revoking again"),
            )
            .await?;
            tx.commit().await?;
            Ok(Outcome::Retry {
                error: "still alive after revocation".into(),
                after: None,
            })
        }
        Verdict::Unknown(why) => {
            let Some(mut tx) = fenced(ctx, job).await? else {
                return Ok(Outcome::Completed);
            };
            tx.append_audit(&attempt).await?;
            tx.append_audit(&verification).await?;
            // The revocation itself was answered.
            answered(&mut tx, ctx, &config.name).await?;
            tx.set_case_item(item, "revoked_unverified", Some(&why))
                .await?;
            tx.commit().await?;
            Ok(Outcome::Retry {
                error: format!("verification unknown: {why}"),
                after: None,
            })
        }
    }
}

/// Whether a human already recorded this item as revoked by hand: then a retried or
/// re-driven job has nothing left to do and must not overwrite the record.
async fn settled_by_hand(ctx: &Context, item: &str) -> StoreResult<bool> {
    match ctx.store.get_case_item(item).await {
        Ok(item) => Ok(item.status == "revoked_manually"),
        Err(crate::store::StoreError::NotFound) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Records a revocation attempt that went no further, with the item's new status.
async fn record(
    ctx: &Context,
    job: &Job,
    attempt: AuditEntry,
    item: &str,
    status: &str,
    detail: &str,
) -> StoreResult<()> {
    let Some(mut tx) = fenced(ctx, job).await? else {
        return Ok(());
    };
    tx.append_audit(&attempt).await?;
    tx.set_case_item(item, status, Some(detail)).await?;
    tx.commit().await
}

/// A write transaction for a job's result, if the job's claim still holds: a
/// holder whose lease was released (it was seen stopped) must not overwrite what the
/// job's new holder recorded. None when the lease is lost.
async fn fenced(ctx: &Context, job: &Job) -> StoreResult<Option<Tx>> {
    let mut tx = ctx.store.begin().await?;
    let lease = job.lease_owner.as_deref().unwrap_or_default();
    if tx.holds_lease(&job.id, lease).await? {
        Ok(Some(tx))
    } else {
        tracing::warn!(job = %job.id, "lost the lease; leaving the result to the job's new holder");
        Ok(None)
    }
}

/// What a connector needs of the credential, with its secret decrypted in memory
/// for the provider calls only.
async fn target(ctx: &Context, credential_id: &str) -> StoreResult<Target> {
    let credential = ctx.store.get_credential(credential_id).await?;
    use crate::key_rotation::{decrypt, KeyError};
    let secret = match ctx.store.sealed_secret(credential_id).await? {
        // A secret sealed under a key another instance began rotating to is opened
        // once this instance has joined the rotation.
        Some(sealed) => match decrypt(&ctx.store, &ctx.keys, &sealed, credential_id).await {
            Ok(bytes) => Some(secrecy::SecretString::from(
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            // The database did not answer: the job is retried, not given up.
            Err(KeyError::Store(err)) => return Err(err),
            Err(err) => {
                tracing::error!(credential = %credential_id, error = %err,
                    "the stored secret cannot be decrypted");
                None
            }
        },
        None => None,
    };
    Ok(Target {
        credential_id: credential_id.to_string(),
        kind: credential.kind.to_string(),
        external_id: credential.external_id.clone(),
        secret,
    })
}

/// Seconds after which a revocation is verified a second time, unless the provider
/// sets `propagation_seconds`.
pub const DEFAULT_PROPAGATION_SECONDS: u64 = 300;

/// The second verification, after the propagation window. Still alive: alert, revoke
/// again, and verify again later. Dead: the proof is confirmed.
pub(super) async fn reverify(
    ctx: &Context,
    job: &Job,
    item_ref: &ItemRef,
    slot: Option<Slot>,
) -> StoreResult<Outcome> {
    let item = item_ref.item_id.as_str();
    let credential_id = item_ref.credential_id.as_str();
    let case_id = Some(item_ref.case_id.as_str());
    if settled_by_hand(ctx, item).await? {
        return Ok(Outcome::Done);
    }
    let provider_name = job.provider.clone().unwrap_or_default();
    let Some((provider, Some(connector))) = ctx
        .providers
        .get(&provider_name)
        .map(|p| (p, p.connector.as_ref()))
    else {
        return Ok(Outcome::Permanent(format!(
            "no provider {provider_name:?} with an API is configured"
        )));
    };
    let Some(slot) = slot else {
        return Ok(busy());
    };
    let target = target(ctx, credential_id).await?;
    if let Err(wait) = slot.ready().await {
        return Ok(paced(wait));
    }
    let verdict = verify_within(connector, ctx, &provider.config, &target).await;
    let mut tx = ctx.store.begin().await?;
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "offboarding.verification_after_propagation",
            "offboarding_case",
            case_id,
        )
        .with_details(json!({"item_id": item, "verdict": format!("{verdict:?}")})),
    )
    .await?;
    if !matches!(verdict, Verdict::Unknown(_)) {
        answered(&mut tx, ctx, &provider_name).await?;
    }
    tx.commit().await?;
    match verdict {
        Verdict::Dead(how) => {
            let proof = format!("{how}, confirmed after the propagation window");
            ctx.store
                .set_case_item(item, "verified_dead", Some(&proof))
                .await?;
            Ok(Outcome::Done)
        }
        Verdict::Alive => {
            let Some(mut tx) = fenced(ctx, job).await? else {
                return Ok(Outcome::Completed);
            };
            tx.set_case_item(
                item,
                "still_alive",
                Some("active again after the propagation window; revoking again"),
            )
            .await?;
            tx.set_credential_status(
                credential_id,
                crate::domain::CredentialStatus::RevocationPending,
            )
            .await?;
            crate::alerts::enqueue(
                &mut tx,
                &format!("alive-later:{item}:{}", now().timestamp_micros()),
                &format!("credential alive again at {provider_name} after the propagation window"),
                &format!("Credential {credential_id} of offboarding case {} was proven dead, but {provider_name} calls it active again after the propagation window. ownerbound revokes it again.", item_ref.case_id),
            )
            .await?;
            tx.commit().await?;
            // Revoked again now when the rate limit allows; the retry verifies (and
            // revokes) again either way.
            if slot.ready().await.is_ok() {
                let _ = revoke_within(connector, ctx, &provider.config, &target).await;
            }
            Ok(Outcome::Retry {
                error: "alive after the propagation window".into(),
                after: None,
            })
        }
        // Nothing else was asked of the provider: its failure to answer is an outage.
        Verdict::Unknown(why) => Ok(Outcome::ProviderFailed {
            error: format!("verification unknown: {why}"),
            after: None,
        }),
    }
}

/// The second step of a reversible revocation (see [`Connector::delete_after`]):
/// delete the credential at the provider and prove it gone. The item stays proven
/// dead throughout; its detail records the deletion.
pub(super) async fn delete(
    ctx: &Context,
    job: &Job,
    item_ref: &ItemRef,
    slot: Option<Slot>,
) -> StoreResult<Outcome> {
    let item = item_ref.item_id.as_str();
    if settled_by_hand(ctx, item).await? {
        return Ok(Outcome::Done);
    }
    let provider_name = job.provider.clone().unwrap_or_default();
    let Some((provider, Some(connector))) = ctx
        .providers
        .get(&provider_name)
        .map(|p| (p, p.connector.as_ref()))
    else {
        return Ok(Outcome::Permanent(format!(
            "no provider {provider_name:?} with an API is configured"
        )));
    };
    let Some(slot) = slot else {
        return Ok(busy());
    };
    let config = &provider.config;
    let target = target(ctx, &item_ref.credential_id).await?;
    if let Err(wait) = slot.ready().await {
        return Ok(paced(wait));
    }
    let deletion = within(config, connector.delete(&ctx.http, &target), |error| {
        Revocation::Retry { error, after: None }
    })
    .await;
    match deletion {
        Revocation::Revoked | Revocation::Ambiguous(_) => {}
        Revocation::Retry { error, after } => return Ok(Outcome::ProviderFailed { error, after }),
        Revocation::Permanent(reason) => return Ok(Outcome::Permanent(reason)),
    }
    if let Err(wait) = slot.ready().await {
        return Ok(paced(wait));
    }
    let verdict = within(
        config,
        connector.verify_deleted(&ctx.http, &target),
        Verdict::Unknown,
    )
    .await;
    let Some(mut tx) = fenced(ctx, job).await? else {
        return Ok(Outcome::Completed);
    };
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "offboarding.deletion",
            "offboarding_case",
            Some(&item_ref.case_id),
        )
        .with_details(
            json!({"item_id": item, "provider": provider_name, "verdict": format!("{verdict:?}")}),
        ),
    )
    .await?;
    answered(&mut tx, ctx, &provider_name).await?;
    let outcome = match verdict {
        Verdict::Dead(how) => {
            tx.set_case_item(item, "verified_dead", Some(how)).await?;
            Outcome::Done
        }
        Verdict::Alive => Outcome::Retry {
            error: "the provider still knows the deleted credential".into(),
            after: None,
        },
        Verdict::Unknown(why) => Outcome::Retry {
            error: format!("deletion unverified: {why}"),
            after: None,
        },
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The provider answered: an outage it was in ends, resuming its waiting jobs.
async fn answered(tx: &mut Tx, ctx: &Context, provider: &str) -> StoreResult<()> {
    super::health::note_answer(tx, provider, ctx.fresh_deadline(), now()).await?;
    Ok(())
}

/// A revocation job died: its item failed for good (a human was told by the dead
/// job's alert), unless it already needs attention for a reason of its own.
pub(super) async fn mark_failed(
    tx: &mut Tx,
    job: &Job,
    error: &str,
    reason: &str,
) -> StoreResult<()> {
    let Ok(Task::Revoke(item) | Task::Verify(item) | Task::Delete(item)) =
        Task::from_stored(&job.kind, &job.payload)
    else {
        return Ok(());
    };
    if reason == "deadline" {
        let detail = format!("gave up at the retry deadline; last error: {error}");
        tx.fail_case_item(&item.item_id, &detail).await?;
    }
    Ok(())
}
