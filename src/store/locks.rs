//! What a write transaction decides, and the lock each decision takes.
//!
//! Writers run side by side on PostgreSQL. Where a transaction reads something,
//! decides from it and writes, a concurrent writer deciding the same thing could read
//! the same state and both would write (two credentials for one secret, an owner left
//! unresolved, two cases for one departure). Each such decision takes a
//! transaction-scoped advisory lock keyed by the thing decided, on every side of the
//! race, *before* its read; PostgreSQL's READ COMMITTED gives every later statement
//! of the transaction a fresh snapshot, so the read sees whatever the previous holder
//! committed. Unique constraints stay as the backstop.
//!
//! On SQLite, write transactions run one at a time anyway (see [`super::Store`]),
//! so taking a lock costs nothing.
//!
//! The invariants, each beside the key that protects it:

use sha2::{Digest, Sha256};

use super::{StoreResult, Tx, TxInner};

/// A thing whose state one transaction at a time may decide from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockKey<'a> {
    /// An email (its case key). Taken where an agent owner or an HR employee is
    /// resolved by email, and where a person gains an email: an agent registered by
    /// email while that person is created resolves to them (never stays an orphan),
    /// and a termination received meanwhile applies to them (never waits unmatched).
    Email(&'a str),
    /// An HR employee id of one source: linking it to a person, and resolving a
    /// termination by it, see each other.
    HrEmployee(&'a str, &'a str),
    /// An employee number: setting it on a person, and resolving a termination by
    /// it, see each other.
    EmployeeNumber(&'a str),
    /// A userName (its case key): one live person has it; a second create is a
    /// `uniqueness` conflict, never a duplicate or a 500.
    UserName(&'a str),
    /// A secret's fingerprint: one credential per secret; registering the same secret
    /// for two agents at once links both to one credential.
    Secret(&'a str),
    /// A provider's handle for a credential (provider, external id): one credential.
    CredentialHandle(&'a str, &'a str),
    /// An agent name: one live agent has it; importing the same agent twice at once
    /// updates it, never creates two.
    AgentName(&'a str),
    /// An agent's identity-provider external id: one pushed agent.
    AgentExternalId(&'a str),
    /// A person: whatever a transaction decides from reading them (an `active` flip
    /// records one lifecycle event, so one departure reported by SCIM and HR at once
    /// opens one case; an `If-Match` precondition holds until commit).
    Person(&'a str),
    /// An agent, likewise (its lifecycle events, its ETag).
    Agent(&'a str),
    /// A group, likewise (its members, its ETag).
    Group(&'a str),
    /// An agentic application, likewise.
    Application(&'a str),
    /// A person's identity at a provider (provider, identity): it names one person, so
    /// a discovered credential is attributed to whoever holds it when the run reads it.
    Identity(&'a str, &'a str),
    /// Discovery of a provider: one run at a time starts.
    Discovery(&'a str),
    /// An offboarding case: whether its last item settled it. Two revocations of one
    /// case settling at once each see the other's item, so the case closes once.
    Case(&'a str),
}

impl LockKey<'_> {
    /// The 64-bit advisory lock key: a hash of the kind and the value. Two things
    /// that collide only wait for each other; nothing else goes wrong.
    pub fn advisory_key(&self) -> i64 {
        let (kind, parts): (&str, [&str; 2]) = match *self {
            LockKey::Email(v) => ("email", [v, ""]),
            LockKey::HrEmployee(s, v) => ("hr-employee", [s, v]),
            LockKey::EmployeeNumber(v) => ("employee-number", [v, ""]),
            LockKey::UserName(v) => ("user-name", [v, ""]),
            LockKey::Secret(v) => ("secret", [v, ""]),
            LockKey::CredentialHandle(p, v) => ("credential-handle", [p, v]),
            LockKey::AgentName(v) => ("agent-name", [v, ""]),
            LockKey::AgentExternalId(v) => ("agent-external-id", [v, ""]),
            LockKey::Person(v) => ("person", [v, ""]),
            LockKey::Agent(v) => ("agent", [v, ""]),
            LockKey::Group(v) => ("group", [v, ""]),
            LockKey::Application(v) => ("application", [v, ""]),
            LockKey::Identity(p, v) => ("identity", [p, v]),
            LockKey::Discovery(v) => ("discovery", [v, ""]),
            LockKey::Case(v) => ("case", [v, ""]),
        };
        let mut hash = Sha256::new();
        for part in [kind, parts[0], parts[1]] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    }
}

impl Tx {
    /// Takes the lock on `key` until this transaction ends (re-entrant).
    pub async fn lock(&mut self, key: LockKey<'_>) -> StoreResult<()> {
        self.lock_all(&[key]).await
    }

    /// Takes several locks in one round trip, always in the same (key) order, so two
    /// transactions locking overlapping sets cannot deadlock on them.
    pub async fn lock_all(&mut self, keys: &[LockKey<'_>]) -> StoreResult<()> {
        let TxInner::Postgres(tx) = &mut self.inner else {
            // SQLite: one writer at a time already.
            return Ok(());
        };
        let mut ids: Vec<i64> = keys
            .iter()
            .map(LockKey::advisory_key)
            .filter(|id| !self.held_locks.contains(id))
            .collect();
        if ids.is_empty() {
            // Held already (a lock lasts until the transaction ends), or none asked.
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        self.held_locks.extend(&ids);
        sqlx::query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k")
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LockKey;

    #[test]
    fn keys_of_different_kinds_or_values_differ() {
        let keys = [
            LockKey::Email("ada@example.com"),
            LockKey::UserName("ada@example.com"),
            LockKey::Email("bob@example.com"),
            LockKey::HrEmployee("bamboohr", "1"),
            LockKey::HrEmployee("bamboohr1", ""),
        ];
        let ids: std::collections::BTreeSet<i64> = keys.iter().map(|k| k.advisory_key()).collect();
        assert_eq!(ids.len(), keys.len());
        assert_eq!(
            LockKey::Person("p1").advisory_key(),
            LockKey::Person("p1").advisory_key()
        );
    }
}
