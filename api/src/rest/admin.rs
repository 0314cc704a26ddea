//! Batch ingest, the price list, projects and API keys.

use lux_core::Lux;
use lux_core::services::api_keys::Scope;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{Auth, AuthPolicy};
use super::dto::*;
use super::error::{ApiError, ApiResult};
use crate::metrics::METRICS;

pub(crate) struct AdminApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PriceList {
    pub(crate) items: Vec<PriceDto>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProjectList {
    pub(crate) items: Vec<ProjectDto>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ApiKeyList {
    pub(crate) items: Vec<ApiKeyDto>,
}

#[derive(Debug, ApiResponse)]
pub(crate) enum ProjectCreated {
    #[oai(status = 201)]
    Created(Json<ProjectDto>),
}

#[derive(Debug, ApiResponse)]
pub(crate) enum KeyCreated {
    /// The key; its `secret` is shown this once.
    #[oai(status = 201)]
    Created(Json<CreatedApiKeyDto>),
}

#[OpenApi(prefix_path = "/api/v1")]
impl AdminApi {
    /// Ingest a batch
    ///
    /// Up to 1000 mixed records (sessions, steps, model calls, synthesis updates, findings,
    /// monitor events) in one transaction. Each item is created, recognised as a duplicate of
    /// what its client id already names, or refused with a reason — a refused item leaves
    /// nothing behind and does not stop the others. Replaying a batch writes nothing twice.
    #[oai(
        path = "/ingest",
        method = "post",
        operation_id = "ingest",
        tag = "ApiTags::Ingest"
    )]
    async fn ingest(
        &self,
        auth: Auth,
        body: Json<IngestBody>,
    ) -> ApiResult<Json<IngestResponseDto>> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let mut records = Vec::with_capacity(body.0.items.len());
        let mut refused = Vec::new();
        let mut positions = Vec::with_capacity(body.0.items.len());
        for (index, item) in body.0.items.into_iter().enumerate() {
            match item.into_record() {
                Ok(record) => {
                    positions.push(index);
                    records.push(record);
                }
                Err((field, message)) => {
                    refused.push(ItemOutcomeDto::refused(index, field, message))
                }
            }
        }
        let results = self.lux.ingest(caller.project, &records).await?;
        let mut items: Vec<ItemOutcomeDto> = positions
            .into_iter()
            .zip(results)
            .map(|(index, result)| ItemOutcomeDto::from_result(index, result))
            .chain(refused)
            .collect();
        items.sort_by_key(|item| item.index);
        let count = |outcome: OutcomeDto| {
            items.iter().filter(|item| item.outcome == outcome).count() as i64
        };
        let (created, duplicates, errors) = (
            count(OutcomeDto::Created),
            count(OutcomeDto::Duplicate),
            count(OutcomeDto::Error),
        );
        for (outcome, n) in [
            ("created", created),
            ("duplicate", duplicates),
            ("error", errors),
        ] {
            METRICS
                .ingest_items
                .with_label_values(&[outcome])
                .inc_by(n as u64);
        }
        Ok(Json(IngestResponseDto {
            created,
            duplicates,
            errors,
            items,
        }))
    }

    /// List model prices
    ///
    /// Every price, past and present; amounts in nano-USD per million tokens.
    #[oai(
        path = "/model-prices",
        method = "get",
        operation_id = "listModelPrices",
        tag = "ApiTags::Prices"
    )]
    async fn list_prices(&self, auth: Auth) -> ApiResult<Json<PriceList>> {
        self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let prices = self.lux.list_prices().await?;
        Ok(Json(PriceList {
            items: prices.into_iter().map(Into::into).collect(),
        }))
    }

    /// Set model prices
    ///
    /// Each price takes over from the one in force for its pattern and provider at its
    /// `effective_from`; older calls keep the cost they were charged. Needs `admin`.
    #[oai(
        path = "/model-prices",
        method = "put",
        operation_id = "setModelPrices",
        tag = "ApiTags::Prices"
    )]
    async fn set_prices(
        &self,
        auth: Auth,
        body: Json<PutPricesBody>,
    ) -> ApiResult<Json<PriceList>> {
        self.policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        let mut items = Vec::with_capacity(body.0.prices.len());
        for price in body.0.prices {
            items.push(self.lux.set_price(price.into()).await?.into());
        }
        Ok(Json(PriceList { items }))
    }

    /// List projects
    ///
    /// The caller's project (every project for a keyless local caller).
    #[oai(
        path = "/projects",
        method = "get",
        operation_id = "listProjects",
        tag = "ApiTags::Projects"
    )]
    async fn list_projects(&self, auth: Auth) -> ApiResult<Json<ProjectList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let items = self
            .lux
            .list_projects()
            .await?
            .into_iter()
            .filter(|project| caller.anonymous || project.id == caller.project)
            .map(Into::into)
            .collect();
        Ok(Json(ProjectList { items }))
    }

    /// Create a project
    ///
    /// Only a keyless local operator can: a key can never reach beyond its own project.
    #[oai(
        path = "/projects",
        method = "post",
        operation_id = "createProject",
        tag = "ApiTags::Projects"
    )]
    async fn create_project(
        &self,
        auth: Auth,
        body: Json<NewProjectBody>,
    ) -> ApiResult<ProjectCreated> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        if !caller.anonymous {
            return Err(ApiError::forbidden(
                "projects are created by the operator (`lux` CLI or a keyless local server)",
            ));
        }
        let project = self
            .lux
            .create_project(&body.0.slug.0, &body.0.name.0)
            .await?;
        Ok(ProjectCreated::Created(Json(project.into())))
    }

    /// List API keys
    ///
    /// The keys of the caller's project, without secrets. Needs `admin`.
    #[oai(
        path = "/api-keys",
        method = "get",
        operation_id = "listApiKeys",
        tag = "ApiTags::Keys"
    )]
    async fn list_keys(&self, auth: Auth) -> ApiResult<Json<ApiKeyList>> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        let keys = self.lux.list_api_keys(caller.project).await?;
        Ok(Json(ApiKeyList {
            items: keys.into_iter().map(Into::into).collect(),
        }))
    }

    /// Create an API key
    ///
    /// For the caller's project (a keyless local operator may name any project). The answer is
    /// the only time the secret is shown. Once a key exists, every request needs one.
    #[oai(
        path = "/api-keys",
        method = "post",
        operation_id = "createApiKey",
        tag = "ApiTags::Keys"
    )]
    async fn create_key(&self, auth: Auth, body: Json<NewApiKeyBody>) -> ApiResult<KeyCreated> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        let project = match &body.0.project {
            None => caller.project,
            Some(slug) => {
                let project = self.lux.project_by_slug(&slug.0).await?.ok_or_else(|| {
                    ApiError::not_found(format!("project {:?} not found", slug.0))
                })?;
                if !caller.anonymous && project.id != caller.project {
                    return Err(ApiError::not_found(format!(
                        "project {:?} not found",
                        slug.0
                    )));
                }
                project.id
            }
        };
        let created = self
            .lux
            .create_api_key(project, &body.0.name.0, body.0.scope.into())
            .await?;
        self.policy.note_key_created();
        Ok(KeyCreated::Created(Json(created.into())))
    }

    /// Revoke an API key
    ///
    /// By id or prefix; the key stops working at once. Revoking twice is harmless.
    #[oai(
        path = "/api-keys/:id",
        method = "delete",
        operation_id = "revokeApiKey",
        tag = "ApiTags::Keys"
    )]
    async fn revoke_key(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<ApiKeyDto>> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        Ok(Json(
            self.lux.revoke_api_key(caller.project, &id.0).await?.into(),
        ))
    }
}
