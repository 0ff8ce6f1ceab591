//! The OpenAPI 3.1 description of the public API, generated from the
//! handlers and types (utoipa) at `/openapi.json`. Paths are declared under
//! `/api/v1/`; [`Prefixes`] adds each one again under `/publicapi/v1.2/`
//! (same handler, its own operation id).

use std::sync::OnceLock;

use axum::Json;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    PREFIXES, account, batch, certificates, loyalty, processing, profile, registration, token,
};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loyalty platform public API",
        description = "The loyalty platform's HTTP/JSON API with the paths, bodies and envelope of the seeds: \
                       processing for partner devices, balances and getPossibleLoyalty (JSON and SOAP). \
                       Every answer is `{\"data\": …, \"result\": {\"state\", \"message\", \"messageCode\", \"validationErrors\"}}`. \
                       Every path is served under /api/v1/ and /publicapi/v1.2/."
    ),
    paths(
        processing::calculate,
        processing::available,
        processing::payment,
        processing::bonus,
        processing::confirm,
        processing::cancel,
        processing::cancel_operation,
        processing::refund,
        loyalty::balance,
        loyalty::possible_loyalty,
        registration::begin,
        registration::actions,
        registration::accept_tender_offer,
        registration::get_phone,
        registration::set_phone,
        registration::confirm_phone,
        registration::resend_phone_code,
        registration::set_password,
        registration::try_finish,
        registration::questions,
        profile::get_email,
        profile::set_email,
        profile::confirm_email,
        profile::resend_email_code,
        profile::answers,
        profile::set_card,
        profile::get_emit_virtual,
        profile::emit_virtual,
        account::balance,
        account::detailed_balance,
        account::history,
        account::user,
        account::member_cards,
        token::token,
        batch::balance_changes,
        certificates::define_type,
        certificates::define_template,
        certificates::create_issue,
        certificates::import,
        certificates::get_import,
        certificates::find,
    ),
    modifiers(&Security, &Prefixes),
    tags(
        (name = "Processing", description = "Purchases at the till and online (seed 001), for partner devices with an API key"),
        (name = "Registration", description = "Registration by phone or card, step by step (seed 001), with the member's token"),
        (name = "Operators", description = "Batch balance changes (seed 001, types 2-5, with seed 004's report) and certificates, with an operator's API key"),
        (name = "User", description = "Login (OAuth2 password grant), the member's balances and History (seed 001)"),
    )
)]
pub struct ApiDoc;

/// The security schemes: partner devices' API keys, members' bearer tokens.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A partner device's API key (or HTTP Basic with the key as the password)",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every `/api/v1/…` path again under the other prefixes.
struct Prefixes;

impl Modify for Prefixes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let [base, others @ ..] = PREFIXES;
        let copies: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                // `/api/v1/…` only: `/api/v1.1/History` is not under `/api/v1/`.
                let rest = path.strip_prefix(base)?.strip_prefix('/')?;
                Some(others.iter().map(move |prefix| {
                    let mut item = item.clone();
                    let tag = prefix.trim_start_matches('/').replace(['/', '.'], "_");
                    for op in [
                        &mut item.get,
                        &mut item.post,
                        &mut item.put,
                        &mut item.delete,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_{tag}"));
                    }
                    (format!("{prefix}/{rest}"), item)
                }))
            })
            .flatten()
            .collect();
        // The seed's History lives under version 1.1 of the seeds' form; it
        // is served under both prefixes as well.
        let v1_1: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.as_str() == "/api/v1.1/History")
            .flat_map(|(_, item)| {
                PREFIXES.iter().map(move |prefix| {
                    let mut item = item.clone();
                    let tag = prefix.trim_start_matches('/').replace(['/', '.'], "_");
                    if let Some(op) = item.get.as_mut() {
                        op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_{tag}"));
                    }
                    (format!("{prefix}/History"), item)
                })
            })
            .collect();
        // The payment gateway's own SOAP path (seed 003).
        let soap: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.as_str() == "/api/v1/Processing/getPossibleLoyalty")
            .map(|(_, item)| {
                let mut item = item.clone();
                if let Some(op) = item.post.as_mut() {
                    op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_soap_path"));
                }
                ("/webservices/merchant/loyalty".to_owned(), item)
            })
            .collect();
        openapi.paths.paths.extend(copies);
        openapi.paths.paths.extend(v1_1);
        openapi.paths.paths.extend(soap);
    }
}

/// The description, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// `GET /openapi.json`.
pub async fn json() -> impl IntoResponse {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_the_prefixes_and_operation_ids_are_unique() {
        let doc = document();
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for path in &paths {
            assert!(
                PREFIXES.iter().any(|p| path.starts_with(&format!("{p}/")))
                    || [
                        "/api/v1.1/History",
                        "/authorizationService/token",
                        "/webservices/merchant/loyalty"
                    ]
                    .contains(path),
                "{path} is under no prefix"
            );
        }
        for history in [
            "/api/v1/History",
            "/api/v1.1/History",
            "/publicapi/v1.2/History",
        ] {
            assert!(paths.contains(&history), "{history} missing");
        }
        let mut ids: Vec<_> = doc
            .paths
            .paths
            .values()
            .flat_map(|item| [&item.get, &item.post, &item.put])
            .flatten()
            .filter_map(|op| op.operation_id.clone())
            .collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
    }
}
