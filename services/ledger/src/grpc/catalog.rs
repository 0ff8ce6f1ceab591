//! `CatalogService`: the catalog in effect and new versions of it.

use std::sync::Arc;

use kit::log::request_hash;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::catalog_service_server::CatalogService;
use prost::Message;
use tonic::{Request, Response, Status};

use super::check::Check;
use crate::app::catalog::{Catalogs, UpdateCatalog};
use crate::error::ApiError;
use crate::events::catalog::{catalog, definition};

/// The gRPC service over the catalog's use cases.
pub struct CatalogApi {
    catalogs: Arc<Catalogs>,
}

impl CatalogApi {
    /// A service over `catalogs`.
    pub fn new(catalogs: Arc<Catalogs>) -> Self {
        Self { catalogs }
    }

    async fn update(&self, r: pb::UpdateCatalogRequest) -> Result<Vec<u8>, ApiError> {
        let hash = request_hash(&r.encode_to_vec());
        let mut c = Check::default();
        let request_id = c.id("request_id", &r.request_id);
        let operator_id = c.id("operator_id", &r.operator_id);
        let new = match r.catalog.map(catalog) {
            None => {
                c.fail("catalog", "is required");
                None
            }
            Some(Err(violations)) => {
                for v in violations {
                    c.fail(&format!("catalog.{}", v.field), v.message);
                }
                None
            }
            Some(Ok(new)) => Some(new),
        };
        c.done()?;
        // `done` refused a missing or bad catalog already.
        let Some(new) = new else {
            return Err(ApiError::Invalid(Vec::new()));
        };
        let update = UpdateCatalog {
            catalog: new,
            expected_version: r.expected_version,
            operator_id,
            request_id,
            request_hash: hash,
        };
        let reply = self
            .catalogs
            .update(update, |state, changed| {
                pb::UpdateCatalogResponse {
                    version: state.version,
                    changed,
                    catalog: Some(definition(&state.catalog)),
                }
                .encode_to_vec()
            })
            .await?;
        Ok(reply)
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn get_catalog(
        &self,
        _request: Request<pb::GetCatalogRequest>,
    ) -> Result<Response<pb::GetCatalogResponse>, Status> {
        let (version, catalog) = self.catalogs.handle().versioned();
        Ok(Response::new(pb::GetCatalogResponse {
            version,
            catalog: Some(definition(&catalog)),
        }))
    }

    async fn update_catalog(
        &self,
        request: Request<pb::UpdateCatalogRequest>,
    ) -> Result<Response<pb::UpdateCatalogResponse>, Status> {
        let stored = self.update(request.into_inner()).await?;
        let answer = pb::UpdateCatalogResponse::decode(stored.as_slice())
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored catalog reply: {e}")))?;
        Ok(Response::new(answer))
    }
}
