//! API keys: shown once, stored only as a SHA-256 hash, checked in constant time, revocable.
//!
//! A key reads `lux_<prefix>_<secret>`: the prefix (public, unique) finds the row, the hash of
//! the whole key must then match. The prefix lets an operator tell keys apart without the secret.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use lux_entity::api_key;

use crate::domain::{MAX_LABEL_BYTES, ProjectId, required_text};
use crate::error::{Error, Result};
use crate::store::Lux;

/// What a key may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Ingest,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
        }
    }

    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "read" => Ok(Scope::Read),
            "ingest" => Ok(Scope::Ingest),
            "admin" => Ok(Scope::Admin),
            _ => Err(Error::invalid(
                "scope",
                format!("{text:?} is not one of read, ingest, admin"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub project_id: ProjectId,
    pub name: String,
    /// The public part, e.g. `lux_3f9a1c02`, enough to recognise a key in a list.
    pub prefix: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its secret exists outside the caller's hands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Who a verified key speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGrant {
    pub key_id: Uuid,
    pub project_id: ProjectId,
    pub scope: Scope,
}

fn key_from_row(row: api_key::Model) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.id,
        project_id: ProjectId(row.project_id),
        name: row.name,
        prefix: row.prefix,
        scope: row.scope.parse()?,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_key(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn random_hex(n_bytes: usize) -> Result<String> {
    let mut bytes = vec![0u8; n_bytes];
    getrandom::fill(&mut bytes)
        .map_err(|error| Error::invalid("api key", format!("no randomness available: {error}")))?;
    Ok(hex(&bytes))
}

impl Lux {
    pub async fn create_api_key(
        &self,
        project: ProjectId,
        name: &str,
        scope: Scope,
    ) -> Result<CreatedApiKey> {
        let name = required_text("name", name, MAX_LABEL_BYTES)?;
        let prefix = format!("lux_{}", random_hex(4)?);
        let secret = format!("{prefix}_{}", random_hex(24)?);
        let row = api_key::ActiveModel {
            id: Set(self.new_id()),
            project_id: Set(project.0),
            name: Set(name),
            prefix: Set(prefix),
            key_hash: Set(hash_key(&secret)),
            scope: Set(scope.as_str().to_owned()),
            created_at: Set(self.now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
        };
        let inserted = api_key::Entity::insert(row)
            .exec_with_returning(self.db())
            .await?;
        Ok(CreatedApiKey {
            key: key_from_row(inserted)?,
            secret,
        })
    }

    pub async fn list_api_keys(&self, project: ProjectId) -> Result<Vec<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::ProjectId.eq(project.0))
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.db())
            .await?
            .into_iter()
            .map(key_from_row)
            .collect()
    }

    /// Revokes a key of `project`, named by id or prefix. Revoking twice is harmless.
    pub async fn revoke_api_key(&self, project: ProjectId, id_or_prefix: &str) -> Result<ApiKey> {
        if !crate::domain::could_be_stored(id_or_prefix) {
            return Err(Error::not_found("api key", id_or_prefix.escape_default()));
        }
        let query = api_key::Entity::find().filter(api_key::Column::ProjectId.eq(project.0));
        let query = match Uuid::parse_str(id_or_prefix) {
            Ok(id) => query.filter(api_key::Column::Id.eq(id)),
            Err(_) => query.filter(api_key::Column::Prefix.eq(id_or_prefix)),
        };
        let row = query
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("api key", id_or_prefix))?;
        if row.revoked_at.is_some() {
            return key_from_row(row);
        }
        let mut active: api_key::ActiveModel = row.into();
        active.revoked_at = Set(Some(self.now()));
        key_from_row(api_key::Entity::update(active).exec(self.db()).await?)
    }

    /// Whether any key has ever been created; once one has, every request must carry a key.
    pub async fn any_api_key_exists(&self) -> Result<bool> {
        Ok(api_key::Entity::find().count(self.db()).await? > 0)
    }

    /// Checks a presented key. `None` for anything unknown, malformed or revoked — callers
    /// answer all of those alike, so a caller learns nothing about which keys exist.
    pub async fn verify_api_key(&self, presented: &str) -> Result<Option<KeyGrant>> {
        let Some(prefix) = presented.rsplit_once('_').map(|(prefix, _)| prefix) else {
            return Ok(None);
        };
        let well_formed = prefix.starts_with("lux_")
            && presented.len() <= 200
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return Ok(None);
        }
        let Some(row) = api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let presented_hash = hash_key(presented);
        let matches: bool = presented_hash
            .as_bytes()
            .ct_eq(row.key_hash.as_bytes())
            .into();
        if !matches || row.revoked_at.is_some() {
            return Ok(None);
        }
        // Best effort: a failed stamp must not fail the request it authenticates.
        let _ = api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(self.now()))
            .filter(api_key::Column::Id.eq(row.id))
            .exec(self.db())
            .await;
        Ok(Some(KeyGrant {
            key_id: row.id,
            project_id: ProjectId(row.project_id),
            scope: row.scope.parse()?,
        }))
    }
}
