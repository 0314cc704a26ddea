//! Who is calling: an API key (`Authorization: Bearer …`) resolved to its project and scope, or,
//! on a loopback-bound server where no key was ever created, the default project without a key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lux_core::services::api_keys::Scope;
use lux_core::{Lux, ProjectId};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::error::{ApiError, ApiResult};

/// An API key created with `lux apikey create` or `POST /api/v1/api-keys`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "lux_<prefix>_<secret>")]
pub(crate) struct BearerKey(Bearer);

/// The credentials of a request. Without a key, a request is allowed only while the server is
/// bound to loopback and no key exists yet.
#[derive(SecurityScheme)]
pub(crate) enum Auth {
    BearerKey(BearerKey),
    #[oai(fallback)]
    Anonymous,
}

/// A caller allowed to act on one project with one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) project: ProjectId,
    pub(crate) scope: Scope,
    /// Keyless on a fresh loopback server: allowed everything a local operator could do.
    pub(crate) anonymous: bool,
}

/// The rules a server applies; shared by every request.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// Keyless requests are possible at all (bound to loopback).
    loopback: bool,
    /// Once any key exists keyless access is over for good, so this only ever turns true.
    keys_exist: Arc<AtomicBool>,
}

impl AuthPolicy {
    /// `loopback`: the server listens on loopback only, so keyless local use is possible.
    pub fn new(loopback: bool) -> Self {
        AuthPolicy {
            loopback,
            keys_exist: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn note_key_created(&self) {
        self.keys_exist.store(true, Ordering::Relaxed);
    }

    pub(crate) async fn authorize(
        &self,
        lux: &Lux,
        auth: &Auth,
        needed: Scope,
    ) -> ApiResult<Caller> {
        let caller = match auth {
            Auth::BearerKey(BearerKey(bearer)) => {
                let grant = lux
                    .verify_api_key(&bearer.token)
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
                self.note_key_created();
                Caller {
                    project: grant.project_id,
                    scope: grant.scope,
                    anonymous: false,
                }
            }
            Auth::Anonymous => {
                if !self.loopback || self.keys_exist.load(Ordering::Relaxed) {
                    return Err(ApiError::unauthorized(
                        "send an API key as `Authorization: Bearer <key>`",
                    ));
                }
                if lux.any_api_key_exists().await? {
                    self.note_key_created();
                    return Err(ApiError::unauthorized(
                        "send an API key as `Authorization: Bearer <key>`",
                    ));
                }
                Caller {
                    project: lux.default_project(),
                    scope: Scope::Admin,
                    anonymous: true,
                }
            }
        };
        if !caller.scope.allows(needed) {
            return Err(ApiError::forbidden(&format!(
                "this key has scope `{}`; the operation needs `{}`",
                caller.scope, needed
            )));
        }
        Ok(caller)
    }

    /// [`AuthPolicy::authorize`] for a door outside the OpenAPI service (MCP over HTTP), given
    /// the request's bearer token, if any.
    pub(crate) async fn authorize_token(
        &self,
        lux: &Lux,
        token: Option<&str>,
        needed: Scope,
    ) -> ApiResult<Caller> {
        let auth = match token {
            Some(token) => Auth::BearerKey(BearerKey(Bearer {
                token: token.to_owned(),
            })),
            None => Auth::Anonymous,
        };
        self.authorize(lux, &auth, needed).await
    }
}
