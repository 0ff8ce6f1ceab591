//! Certificate types (stream `type/<id>`), templates (stream
//! `template/<id>`) and issues (stream `issue/<id>`): the seed's
//! prerequisites of an import. A type says whether its certificates are
//! one-time and whether their value is fixed; a template is what they are
//! printed with (made for one type, or any); an issue names its type (as it
//! was when the issue was created), its template and the partner they
//! belong to. Each is defined once: the same definition again changes
//! nothing, another one under the same id is refused.

use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

/// A certificate type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeSpec {
    /// Its id.
    pub type_id: String,
    /// Its name.
    pub name: String,
    /// The fixed face value; `None`: any amount.
    pub fixed_value: Option<Decimal>,
    /// True when its certificates are spent at once.
    pub one_time: bool,
    /// The currency of its balances.
    pub currency: String,
}

/// A template certificates are printed with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateSpec {
    /// Its id.
    pub template_id: String,
    /// Its name.
    pub name: String,
    /// The type it is made for ("" = any).
    pub type_id: String,
    /// What it looks like.
    pub description: String,
}

impl TemplateSpec {
    /// Whether an issue of `type_id` may print with it.
    pub fn fits(&self, type_id: &str) -> bool {
        self.type_id.is_empty() || self.type_id == type_id
    }
}

/// A template's stream state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateTemplate {
    /// The definition, once made.
    pub spec: Option<TemplateSpec>,
}

impl Aggregate for CertificateTemplate {
    type Command = TemplateSpec;
    type Event = TemplateSpec;
    type Error = DefinitionError;

    fn decide(&self, c: &TemplateSpec) -> Result<Vec<TemplateSpec>, DefinitionError> {
        match &self.spec {
            Some(s) if s == c => Ok(Vec::new()),
            Some(_) => Err(DefinitionError::Exists(format!(
                "template {}",
                c.template_id
            ))),
            None => Ok(vec![c.clone()]),
        }
    }

    fn apply(&mut self, e: &TemplateSpec) {
        self.spec = Some(e.clone());
    }
}

/// An issue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssueSpec {
    /// Its id.
    pub issue_id: String,
    /// Its type.
    pub type_id: String,
    /// The template its certificates are printed with.
    pub template_id: String,
    /// The partner they belong to.
    pub partner_id: String,
}

/// Why a definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// Another definition has the id.
    #[error("{0} is defined already, differently")]
    Exists(String),
}

/// A type's stream state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateType {
    /// The definition, once made.
    pub spec: Option<TypeSpec>,
}

impl Aggregate for CertificateType {
    type Command = TypeSpec;
    type Event = TypeSpec;
    type Error = DefinitionError;

    fn decide(&self, c: &TypeSpec) -> Result<Vec<TypeSpec>, DefinitionError> {
        match &self.spec {
            Some(s) if s == c => Ok(Vec::new()),
            Some(_) => Err(DefinitionError::Exists(format!("type {}", c.type_id))),
            None => Ok(vec![c.clone()]),
        }
    }

    fn apply(&mut self, e: &TypeSpec) {
        self.spec = Some(e.clone());
    }
}

/// An issue and its type as it was when the issue was created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssueCreated {
    /// The issue.
    pub issue: IssueSpec,
    /// Its type.
    pub certificate_type: TypeSpec,
}

/// An issue's stream state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueRecord {
    /// The issue, once created.
    pub created: Option<IssueCreated>,
}

impl Aggregate for IssueRecord {
    type Command = IssueCreated;
    type Event = IssueCreated;
    type Error = DefinitionError;

    fn decide(&self, c: &IssueCreated) -> Result<Vec<IssueCreated>, DefinitionError> {
        match &self.created {
            Some(s) if s.issue == c.issue => Ok(Vec::new()),
            Some(_) => Err(DefinitionError::Exists(format!(
                "issue {}",
                c.issue.issue_id
            ))),
            None => Ok(vec![c.clone()]),
        }
    }

    fn apply(&mut self, e: &IssueCreated) {
        self.created = Some(e.clone());
    }
}

#[cfg(test)]
mod tests {
    use kit::aggregate::given_when;

    use super::*;

    #[test]
    fn defined_once_and_the_same_again_changes_nothing() {
        let t = TypeSpec {
            type_id: "T1".into(),
            fixed_value: Some(Decimal::from(1000)),
            ..TypeSpec::default()
        };
        let done = given_when::<CertificateType>(&[], &t).unwrap_or_default();
        assert_eq!(given_when::<CertificateType>(&done, &t), Ok(Vec::new()));
        let other = TypeSpec {
            one_time: true,
            ..t.clone()
        };
        assert!(given_when::<CertificateType>(&done, &other).is_err());
        let i = IssueCreated {
            issue: IssueSpec {
                issue_id: "I1".into(),
                type_id: "T1".into(),
                ..IssueSpec::default()
            },
            certificate_type: t,
        };
        let created = given_when::<IssueRecord>(&[], &i).unwrap_or_default();
        assert_eq!(given_when::<IssueRecord>(&created, &i), Ok(Vec::new()));
    }
}
