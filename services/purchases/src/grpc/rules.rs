//! `loyalty.purchases.v1.RulesService`: the program's rules in effect, and
//! changes to them (idempotent by `request_id`, naming their operator,
//! optionally only on top of an expected version).

use std::sync::Arc;

use loyalty_proto::purchases::v1 as pb;
use loyalty_proto::purchases::v1::rules_service_server::RulesService;
use tonic::{Request, Response, Status};

use super::check::Check;
use super::convert::request_hash;
use crate::app::rules::{ChangeRequest, RulesBook};
use crate::error::ApiError;
use crate::events::rules::{rules_from, rules_message};

/// The rules service.
pub struct RulesApi {
    book: Arc<RulesBook>,
}

impl RulesApi {
    /// The service over `book`.
    pub fn new(book: Arc<RulesBook>) -> Self {
        Self { book }
    }
}

#[tonic::async_trait]
impl RulesService for RulesApi {
    async fn get_rules(
        &self,
        _request: Request<pb::GetRulesRequest>,
    ) -> Result<Response<pb::GetRulesResponse>, Status> {
        let (version, rules) = self.book.handle().current();
        Ok(Response::new(pb::GetRulesResponse {
            version,
            rules: Some(rules_message(&rules)),
        }))
    }

    async fn update_rules(
        &self,
        request: Request<pb::UpdateRulesRequest>,
    ) -> Result<Response<pb::UpdateRulesResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let request_id = c.id("request_id", &r.request_id);
        let operator_id = c.id("operator_id", &r.operator_id);
        let checked = rules_from(&r.rules.clone().unwrap_or_default());
        if let Err(faults) = &checked {
            for (field, reason) in faults {
                c.fail(format!("rules.{field}"), reason.clone());
            }
        }
        c.done()?;
        let rules = checked.map_err(|_| ApiError::Invalid(Vec::new()))?;
        let change = ChangeRequest {
            rules,
            operator_id,
            request_id,
            expected_version: r.expected_version,
            request_hash: request_hash("UpdateRules", &r),
        };
        let version = self.book.change(change, "api").await?;
        Ok(Response::new(pb::UpdateRulesResponse { version }))
    }
}
