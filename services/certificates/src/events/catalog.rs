//! Types, templates and issues ⇄ their `loyalty.certificates.v1` messages.

use kit::aggregate::{DecodeError, DomainEvent};
use loyalty_proto::certificates::v1 as pb;
use prost::Message;

use super::{Decoder, types};
use crate::domain::issue::{IssueCreated, IssueSpec, TemplateSpec, TypeSpec};

/// A type on the wire.
pub fn type_to_wire(t: &TypeSpec) -> pb::CertificateType {
    pb::CertificateType {
        type_id: t.type_id.clone(),
        name: t.name.clone(),
        fixed_value: t.fixed_value.map(|v| v.to_string()).unwrap_or_default(),
        one_time: t.one_time,
        currency: t.currency.clone(),
    }
}

/// A template on the wire.
pub fn template_to_wire(t: &TemplateSpec) -> pb::CertificateTemplate {
    pb::CertificateTemplate {
        template_id: t.template_id.clone(),
        name: t.name.clone(),
        type_id: t.type_id.clone(),
        description: t.description.clone(),
    }
}

/// A template from the wire.
pub fn template_from_wire(t: pb::CertificateTemplate) -> TemplateSpec {
    TemplateSpec {
        template_id: t.template_id,
        name: t.name,
        type_id: t.type_id,
        description: t.description,
    }
}

impl DomainEvent for TemplateSpec {
    fn event_type(&self) -> &'static str {
        types::TEMPLATE_DEFINED
    }

    fn encode(&self) -> Vec<u8> {
        pb::CertificateTemplateDefined {
            template: Some(template_to_wire(self)),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::TEMPLATE_DEFINED {
            return Err(d.err(format!("unknown event type {event_type}")));
        }
        let m: pb::CertificateTemplateDefined = d.message(payload)?;
        Ok(template_from_wire(m.template.unwrap_or_default()))
    }
}

/// An issue on the wire.
pub fn issue_to_wire(i: &IssueSpec) -> pb::CertificateIssue {
    pb::CertificateIssue {
        issue_id: i.issue_id.clone(),
        type_id: i.type_id.clone(),
        template_id: i.template_id.clone(),
        partner_id: i.partner_id.clone(),
    }
}

impl Decoder<'_> {
    fn type_spec(&self, t: Option<pb::CertificateType>) -> Result<TypeSpec, DecodeError> {
        let t = t.unwrap_or_default();
        Ok(TypeSpec {
            fixed_value: if t.fixed_value.is_empty() {
                None
            } else {
                Some(self.decimal("fixed_value", &t.fixed_value)?)
            },
            type_id: t.type_id,
            name: t.name,
            one_time: t.one_time,
            currency: t.currency,
        })
    }
}

impl DomainEvent for TypeSpec {
    fn event_type(&self) -> &'static str {
        types::TYPE_DEFINED
    }

    fn encode(&self) -> Vec<u8> {
        pb::CertificateTypeDefined {
            certificate_type: Some(type_to_wire(self)),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::TYPE_DEFINED {
            return Err(d.err(format!("unknown event type {event_type}")));
        }
        let m: pb::CertificateTypeDefined = d.message(payload)?;
        d.type_spec(m.certificate_type)
    }
}

impl DomainEvent for IssueCreated {
    fn event_type(&self) -> &'static str {
        types::ISSUE_CREATED
    }

    fn encode(&self) -> Vec<u8> {
        pb::CertificateIssueCreated {
            issue: Some(issue_to_wire(&self.issue)),
            certificate_type: Some(type_to_wire(&self.certificate_type)),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::ISSUE_CREATED {
            return Err(d.err(format!("unknown event type {event_type}")));
        }
        let m: pb::CertificateIssueCreated = d.message(payload)?;
        let i = m.issue.unwrap_or_default();
        Ok(IssueCreated {
            issue: IssueSpec {
                issue_id: i.issue_id,
                type_id: i.type_id,
                template_id: i.template_id,
                partner_id: i.partner_id,
            },
            certificate_type: d.type_spec(m.certificate_type)?,
        })
    }
}
