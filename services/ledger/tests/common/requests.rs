//! Request builders shared by the gRPC tests.

use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use loyalty_proto::wkt::Timestamp;
use tonic::transport::Channel;

pub fn money(amount: &str, currency: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: currency.into(),
    })
}

pub fn accrue(op: &str, member: &str, amount: &str) -> pb::AccrueRequest {
    pb::AccrueRequest {
        operation_id: op.into(),
        member_id: member.into(),
        amount: money(amount, "BONUS"),
        ..Default::default()
    }
}

pub fn withdraw(op: &str, member: &str, amount: &str) -> pb::WithdrawRequest {
    pb::WithdrawRequest {
        operation_id: op.into(),
        member_id: member.into(),
        amount: money(amount, "BONUS"),
        ..Default::default()
    }
}

/// A hold of `amount` BONUS, with the default time-to-live.
pub fn hold(id: &str, member: &str, amount: &str) -> pb::HoldRequest {
    pb::HoldRequest {
        hold_id: id.into(),
        member_id: member.into(),
        amount: money(amount, "BONUS"),
        context: None,
        ttl_seconds: 0,
    }
}

/// A capture of `amount` of the hold (empty: all of it).
pub fn capture(op: &str, member: &str, hold_id: &str, amount: &str) -> pb::CaptureHoldRequest {
    pb::CaptureHoldRequest {
        operation_id: op.into(),
        member_id: member.into(),
        hold_id: hold_id.into(),
        amount: amount.into(),
        ..Default::default()
    }
}

/// A release of the hold.
pub fn release(op: &str, member: &str, hold_id: &str) -> pb::ReleaseHoldRequest {
    pb::ReleaseHoldRequest {
        operation_id: op.into(),
        member_id: member.into(),
        hold_id: hold_id.into(),
        ..Default::default()
    }
}

/// A refund of all of `original`.
pub fn refund_of(op: &str, member: &str, original: &str) -> pb::RefundRequest {
    pb::RefundRequest {
        operation_id: op.into(),
        member_id: member.into(),
        original_operation_id: original.into(),
        ..Default::default()
    }
}

/// The member's BONUS account.
pub async fn account(c: &mut LedgerServiceClient<Channel>, member: &str) -> pb::AccountBalance {
    let request = pb::GetBalanceRequest {
        member_id: member.into(),
        currency: "BONUS".into(),
    };
    let mut balances = c.get_balance(request).await.unwrap().into_inner();
    balances.accounts.remove(0)
}

/// What is available in the member's BONUS account.
pub async fn available(c: &mut LedgerServiceClient<Channel>, member: &str) -> String {
    account(c, member).await.available
}

/// (available, held) of the member's BONUS account.
pub async fn balance(c: &mut LedgerServiceClient<Channel>, member: &str) -> (String, String) {
    let a = account(c, member).await;
    (a.available, a.held)
}

/// An expected (available, held).
pub fn pair(available: &str, held: &str) -> (String, String) {
    (available.into(), held.into())
}

/// A `GetHistory` of the member up to `to`, at most `count` rows.
pub fn history_request(member: &str, to: Option<Timestamp>, count: u32) -> pb::GetHistoryRequest {
    pb::GetHistoryRequest {
        member_id: member.into(),
        to_date: to,
        count,
        ..Default::default()
    }
}

/// The answer to `request`.
pub async fn history_of(
    c: &mut LedgerServiceClient<Channel>,
    request: pb::GetHistoryRequest,
) -> pb::GetHistoryResponse {
    c.get_history(request).await.unwrap().into_inner()
}

/// The member's history up to now, at most 10 rows.
pub async fn recent_history(
    c: &mut LedgerServiceClient<Channel>,
    member: &str,
) -> pb::GetHistoryResponse {
    let now = Some(chrono::Utc::now().into());
    history_of(c, history_request(member, now, 10)).await
}

/// The fields an INVALID_ARGUMENT status names, in order.
pub fn fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// (code, accepted count, accepted sum) of a batch report.
pub fn accepted(r: &pb::ApplyBatchResponse) -> (i32, u64, &str) {
    (r.code, r.accepted_count, r.accepted_sum.as_str())
}

/// (code, accepted count, error count) of a batch report.
pub fn counts(r: &pb::ApplyBatchResponse) -> (i32, u64, u64) {
    (r.code, r.accepted_count, r.error_count)
}

/// The outcome of an accrual that is accepted.
pub async fn accrued(
    c: &mut LedgerServiceClient<Channel>,
    r: pb::AccrueRequest,
) -> pb::OperationResult {
    c.accrue(r).await.unwrap().into_inner().result.unwrap()
}
