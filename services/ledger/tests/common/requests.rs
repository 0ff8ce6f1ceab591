//! Request builders shared by the gRPC tests.

use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
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

pub async fn balance(client: &mut LedgerServiceClient<Channel>, member: &str) -> (String, String) {
    let b = client
        .get_balance(pb::GetBalanceRequest {
            member_id: member.into(),
            currency: "BONUS".into(),
        })
        .await
        .unwrap()
        .into_inner();
    (b.accounts[0].available.clone(), b.accounts[0].held.clone())
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
