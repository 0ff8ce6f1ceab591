//! The purchases service's gRPC edge: converts requests ([`convert`]), runs
//! the steps ([`crate::app`]), renders the answers ([`render`]). No rule of
//! the program lives here.

use std::sync::Arc;

use loyalty_proto::purchases::v1 as pb;
use loyalty_proto::purchases::v1::purchases_service_server::PurchasesService;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::app::queries::Queries;
use crate::app::steps::{self as app, BonusInput, Steps};
use crate::error::ApiError;

pub mod check;
pub mod convert;
pub mod receipt;
pub mod render;
pub mod rules;

use check::Check;
use convert::{Identify, request_hash};

/// The gRPC service.
pub struct PurchasesApi {
    steps: Arc<Steps>,
    queries: Queries,
}

impl PurchasesApi {
    /// The service over the use cases.
    pub fn new(steps: Arc<Steps>, queries: Queries) -> Self {
        Self { steps, queries }
    }
}

impl PurchasesApi {
    /// Confirm (`confirm`) or Cancel: the step of the purchase's member,
    /// answered as `render` makes of its events.
    async fn settle<R: Message + Default>(
        &self,
        step: Option<&pb::Step>,
        hash: [u8; 32],
        settle: Settle<'_>,
        render: fn(&[crate::domain::purchase::Event]) -> R,
    ) -> Result<Response<R>, Status> {
        let mut c = Check::default();
        let step = convert::step(&mut c, step, Identify::FromPurchase, hash, self.steps.now());
        let settle = match settle {
            Settle::Confirm => app::Settle::Confirm,
            Settle::Cancel("") => app::Settle::Cancel(None),
            Settle::Cancel(target) => {
                app::Settle::Cancel(Some(c.id("target_operation_id", target)))
            }
        };
        c.done()?;
        let reply = move |_: &_, events: &[_]| render(events).encode_to_vec();
        let bytes = self.steps.settle(&step, settle, &reply).await?;
        Ok(Response::new(stored(&bytes)?))
    }
}

/// Which settling a request asks for.
enum Settle<'a> {
    Confirm,
    /// The operation to cancel, as sent ("": the whole purchase).
    Cancel(&'a str),
}

/// Decodes a stored answer.
fn stored<M: Message + Default>(bytes: &[u8]) -> Result<M, ApiError> {
    M::decode(bytes).map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored answer: {e}")))
}

#[tonic::async_trait]
impl PurchasesService for PurchasesApi {
    async fn calculate(
        &self,
        request: Request<pb::CalculateRequest>,
    ) -> Result<Response<pb::CalculateResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let step = convert::step(
            &mut c,
            r.step.as_ref(),
            Identify::Required,
            request_hash("Calculate", &r),
            self.steps.now(),
        );
        let cheque = convert::cheque(&mut c, r.cheque.as_ref());
        let coupons = convert::coupons(&mut c, &r.coupons);
        c.done()?;
        let reply = |_: &_, events: &[_]| render::calculated(events).encode_to_vec();
        let bytes = self.steps.calculate(&step, cheque, coupons, &reply).await?;
        Ok(Response::new(stored(&bytes)?))
    }

    async fn available(
        &self,
        request: Request<pb::AvailableRequest>,
    ) -> Result<Response<pb::AvailableResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let step = convert::step(
            &mut c,
            r.step.as_ref(),
            Identify::Required,
            request_hash("Available", &r),
            self.steps.now(),
        );
        let cheque = convert::cheque(&mut c, r.cheque.as_ref());
        c.done()?;
        let a = self.queries.available(&step, &cheque).await?;
        Ok(Response::new(pb::AvailableResponse {
            answer: Some(render::answer(&Default::default(), None)),
            available_amount: render::money(a.most),
            min_amount: render::money(a.least),
        }))
    }

    async fn payment(
        &self,
        request: Request<pb::PaymentRequest>,
    ) -> Result<Response<pb::PaymentResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        // The PIN never reaches the stored request hash.
        let hashed = pb::PaymentRequest {
            pin_code: String::new(),
            ..r.clone()
        };
        let step = convert::step(
            &mut c,
            r.step.as_ref(),
            Identify::Required,
            request_hash("Payment", &hashed),
            self.steps.now(),
        );
        let cheque = convert::cheque(&mut c, r.cheque.as_ref());
        convert::coupons(&mut c, &r.coupons);
        let points = c.positive("amount", &r.amount);
        c.text("pin_code", &r.pin_code, check::MAX_ID);
        c.done()?;
        let reply = |_: &_, events: &[_]| render::paid(events).encode_to_vec();
        let bytes = self.steps.payment(&step, cheque, points, &reply).await?;
        Ok(Response::new(stored(&bytes)?))
    }

    async fn bonus(
        &self,
        request: Request<pb::BonusRequest>,
    ) -> Result<Response<pb::BonusResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let step = convert::step(
            &mut c,
            r.step.as_ref(),
            Identify::Required,
            request_hash("Bonus", &r),
            self.steps.now(),
        );
        let cheque = convert::cheque(&mut c, r.cheque.as_ref());
        convert::coupons(&mut c, &r.coupons);
        let (points_paid, gift_cards) = convert::pays(&mut c, &r.pays, &cheque);
        let template_id = convert::communications(&mut c, r.communications.as_ref());
        let language = convert::receipt_language(&mut c, &r.language);
        c.done()?;
        let input = BonusInput {
            cheque,
            points_paid,
            gift_cards,
            template_id,
            language,
        };
        let cash = self
            .steps
            .rules_at(step.operation_date)
            .cash_currency
            .clone();
        let reply = move |_: &_, events: &[_]| render::bonus(events, &cash).encode_to_vec();
        let bytes = self.steps.bonus(&step, input, &reply).await?;
        Ok(Response::new(stored(&bytes)?))
    }

    async fn confirm(
        &self,
        request: Request<pb::ConfirmRequest>,
    ) -> Result<Response<pb::ConfirmResponse>, Status> {
        let r = request.into_inner();
        let hash = request_hash("Confirm", &r);
        self.settle(r.step.as_ref(), hash, Settle::Confirm, render::confirmed)
            .await
    }

    async fn cancel(
        &self,
        request: Request<pb::CancelRequest>,
    ) -> Result<Response<pb::CancelResponse>, Status> {
        let r = request.into_inner();
        let hash = request_hash("Cancel", &r);
        let settle = Settle::Cancel(&r.target_operation_id);
        self.settle(r.step.as_ref(), hash, settle, render::cancelled)
            .await
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let step = convert::step(
            &mut c,
            r.step.as_ref(),
            Identify::FromPurchase,
            request_hash("Refund", &r),
            self.steps.now(),
        );
        let lines = convert::refund_lines(&mut c, &r.lines);
        c.done()?;
        let reply = |_: &_, events: &[_]| render::refunded(events).encode_to_vec();
        let bytes = self.steps.refund(&step, lines, &reply).await?;
        Ok(Response::new(stored(&bytes)?))
    }

    async fn balance(
        &self,
        request: Request<pb::BalanceRequest>,
    ) -> Result<Response<pb::BalanceResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let identifier = r.identifier.unwrap_or_default();
        let value = c.id("identifier.value", &identifier.value);
        let by_member = identifier.r#type == pb::IdentifierType::MemberId as i32;
        c.done()?;
        let (bonus, cash) = self.queries.balance(&value, by_member).await?;
        Ok(Response::new(pb::BalanceResponse {
            bonus: Some(render::balance(&bonus)),
            cash: Some(render::balance(&cash)),
        }))
    }

    async fn get_possible_loyalty(
        &self,
        request: Request<pb::GetPossibleLoyaltyRequest>,
    ) -> Result<Response<pb::GetPossibleLoyaltyResponse>, Status> {
        let r = request.into_inner();
        let mut c = Check::default();
        let (order, card, language) = convert::possible_loyalty(&mut c, &r);
        c.done()?;
        let possible = self.steps.possible_loyalty(&order, &card).await;
        Ok(Response::new(render::possible(&possible, language)))
    }
}
