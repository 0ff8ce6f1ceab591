//! The questionnaire in the seed's JSON: nodes out (`nodeType`,
//! `displayName`, `logicalName`, `groupID`, ... with nulls where the seed has
//! them), answers in.

use loyalty_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{pascal, text_or_null};

/// One node of the questionnaire as the seed prints it.
pub fn node(n: &pb::QuestionNode) -> Value {
    let field_type = match n.field_type() {
        pb::FieldType::Unspecified => Value::Null,
        t => json!(pascal(t.as_str_name(), "FIELD_TYPE_")),
    };
    json!({
        "nodeType": pascal(n.node_type().as_str_name(), "NODE_TYPE_"),
        "displayName": text_or_null(&n.display_name),
        "description": text_or_null(&n.description),
        "logicalName": text_or_null(&n.logical_name),
        "value": text_or_null(&n.value),
        "readOnly": n.read_only,
        "required": n.required,
        "id": n.id,
        "groupID": n.group_id,
        "selected": n.selected,
        "maxLength": n.max_length,
        "fieldType": field_type,
        "children": if n.children.is_empty() {
            Value::Null
        } else {
            Value::Array(n.children.iter().map(node).collect())
        },
    })
}

/// One answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AnswerIn {
    /// For a chosen option: its question's id.
    #[serde(rename = "groupID")]
    pub group_id: Option<i64>,
    /// The question id, or for a chosen option the option id.
    pub id: i64,
    /// The typed answer; null for a chosen option.
    pub value: Option<String>,
    /// True for a chosen option.
    pub selected: bool,
}

/// Answers to the questionnaire.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AnswersRequest {
    /// The answers.
    pub answers: Vec<AnswerIn>,
}

impl From<&AnswerIn> for pb::Answer {
    fn from(a: &AnswerIn) -> Self {
        pb::Answer {
            group_id: a.group_id,
            id: a.id,
            value: a.value.clone().unwrap_or_default(),
            selected: a.selected,
        }
    }
}
