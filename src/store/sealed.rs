//! Every stored ciphertext, for the master key rotation: what is still sealed under
//! another key than the new one, and re-sealing a row only if nobody changed it
//! meanwhile. The store knows ciphertexts only as bytes whose first
//! `header.len()` bytes name their key (see `crypto::sealed_header`).

use super::{with_pool, with_tx, StoreResult, Tx};
use crate::store::Store;

/// A table holding ciphertexts, and how each is bound to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedTable {
    /// `credentials.secret_ciphertext`, bound to the credential id.
    Credentials,
    /// `hr_verification_tokens.sealed_token`, bound to the HR source.
    HrVerificationTokens,
}

impl SealedTable {
    pub const ALL: [SealedTable; 2] = [Self::Credentials, Self::HrVerificationTokens];

    /// (table, id column, ciphertext column, column the encryption context is built
    /// from).
    fn columns(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Self::Credentials => ("credentials", "id", "secret_ciphertext", "id"),
            Self::HrVerificationTokens => {
                ("hr_verification_tokens", "id", "sealed_token", "source")
            }
        }
    }
}

/// One ciphertext to re-seal.
#[derive(Debug, sqlx::FromRow)]
pub struct SealedRow {
    pub id: String,
    /// What the encryption context is built from (the credential id, the source).
    pub binding: String,
    pub sealed: Vec<u8>,
}

impl Store {
    /// Up to `limit` rows of `table`, after id `after` in id order, whose ciphertext
    /// does not start with `header`.
    pub async fn sealed_elsewhere(
        &self,
        table: SealedTable,
        header: &[u8],
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<SealedRow>> {
        let (name, id, sealed, binding) = table.columns();
        let sql = format!(
            "SELECT {id} AS id, {binding} AS binding, {sealed} AS sealed FROM {name} \
             WHERE {sealed} IS NOT NULL AND substr({sealed}, 1, {len}) <> $1 AND {id} > $2 \
             ORDER BY {id} LIMIT $3",
            len = header.len()
        );
        Ok(with_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(header)
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?
        }))
    }

    /// (ciphertexts in `table`, of which sealed under another key than `header`'s).
    pub async fn count_sealed(&self, table: SealedTable, header: &[u8]) -> StoreResult<(i64, i64)> {
        let (name, _, sealed, _) = table.columns();
        let sql = format!(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN substr({sealed}, 1, {len}) <> $1 THEN 1 ELSE 0 END), 0) \
             FROM {name} WHERE {sealed} IS NOT NULL",
            len = header.len()
        );
        Ok(with_pool!(self, p => {
            sqlx::query_as(&sql).bind(header).fetch_one(p).await?
        }))
    }
}

impl Tx {
    /// Holds off writers of ciphertexts until this transaction ends, so that what it
    /// counts stays true until it commits. SQLite's one writer does that already; on
    /// PostgreSQL readers go on, writers of these tables wait.
    pub async fn hold_off_sealed_writers(&mut self) -> StoreResult<()> {
        if let super::TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("LOCK TABLE credentials, hr_verification_tokens IN SHARE MODE")
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// How many ciphertexts of `table` this transaction sees sealed under another
    /// key than `header`'s.
    pub async fn count_sealed_elsewhere(
        &mut self,
        table: SealedTable,
        header: &[u8],
    ) -> StoreResult<i64> {
        let (name, _, sealed, _) = table.columns();
        let sql = format!(
            "SELECT COUNT(*) FROM {name} WHERE {sealed} IS NOT NULL AND substr({sealed}, 1, {len}) <> $1",
            len = header.len()
        );
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(&sql).bind(header).fetch_one(&mut *c).await?
        }))
    }

    /// Replaces row `id`'s ciphertext `old` with `new`; false when the row changed
    /// since it was read (a new secret was stored: it is sealed under the new key
    /// already, or the next pass takes it).
    pub async fn reseal(
        &mut self,
        table: SealedTable,
        id: &str,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let (name, id_column, sealed, _) = table.columns();
        let sql =
            format!("UPDATE {name} SET {sealed} = $3 WHERE {id_column} = $1 AND {sealed} = $2");
        let done = with_tx!(self, c => {
            sqlx::query(&sql)
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
