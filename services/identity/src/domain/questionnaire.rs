//! The questionnaire (анкета): a tree of headers and questions, rendered as
//! the seed's `Questions` answer, and the validation of `Answers` with the
//! seed's error shape (`idQuestion` + messages).

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Answer, FieldType, NodeKind, QuestionNode};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// The seed's message for the age rule.
pub const UNDER_AGE: &str = "Не допускается участие в программе лиц младше 18 лет";

/// One node of the configured questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// `Header` or `Question`.
    pub node_type: String,
    /// Text shown.
    pub display_name: String,
    /// Longer text.
    #[serde(default)]
    pub description: String,
    /// Stable field name (questions).
    #[serde(default)]
    pub logical_name: String,
    /// Question id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Must be answered.
    #[serde(default)]
    pub required: bool,
    /// Maximum length of a text answer.
    #[serde(default)]
    pub max_length: Option<u32>,
    /// `String`, `Date`, `Number`, `Boolean`, `Radio` or `Checkbox`.
    #[serde(default)]
    pub field_type: String,
    /// Options of a Radio / Checkbox question: (option id, text).
    #[serde(default)]
    pub options: Vec<(i64, String)>,
    /// For Date questions: the youngest allowed age in years.
    #[serde(default)]
    pub min_age: Option<u32>,
    /// Child nodes (headers).
    #[serde(default)]
    pub children: Vec<Node>,
}

/// Errors per question: (`idQuestion`, messages).
pub type QuestionErrors = Vec<(i64, Vec<String>)>;

/// A validated set of answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The answers as stored.
    pub answers: Vec<Answer>,
    /// Answers by logical name.
    pub profile: BTreeMap<String, String>,
}

/// The questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Questionnaire {
    /// Top-level nodes.
    pub nodes: Vec<Node>,
}

fn question(id: i64, name: &str, text: &str, field: &str, required: bool) -> Node {
    Node {
        node_type: "Question".into(),
        display_name: text.into(),
        description: String::new(),
        logical_name: name.into(),
        id: Some(id),
        required,
        max_length: (field == "String").then_some(100),
        field_type: field.into(),
        options: Vec::new(),
        min_age: None,
        children: Vec::new(),
    }
}

impl Default for Questionnaire {
    /// Personal data: last, first and middle name, birth date (18+), sex.
    fn default() -> Self {
        let mut birth = question(4, "BirthDate", "Дата рождения", "Date", true);
        birth.min_age = Some(18);
        let mut sex = question(5, "Sex", "Пол", "Radio", true);
        sex.options = vec![(1, "Мужской".into()), (2, "Женский".into())];
        Self {
            nodes: vec![Node {
                node_type: "Header".into(),
                display_name: "Личные данные".into(),
                description: String::new(),
                logical_name: String::new(),
                id: None,
                required: false,
                max_length: None,
                field_type: String::new(),
                options: Vec::new(),
                min_age: None,
                children: vec![
                    question(2, "LastName", "Фамилия", "String", true),
                    question(3, "FirstName", "Имя", "String", true),
                    question(6, "MiddleName", "Отчество", "String", false),
                    birth,
                    sex,
                ],
            }],
        }
    }
}

fn field_type(name: &str) -> Option<FieldType> {
    match name {
        "String" => Some(FieldType::String),
        "Date" => Some(FieldType::Date),
        "Number" => Some(FieldType::Number),
        "Boolean" => Some(FieldType::Boolean),
        "Radio" => Some(FieldType::Radio),
        "Checkbox" => Some(FieldType::Checkbox),
        _ => None,
    }
}

fn is_choice(q: &Node) -> bool {
    matches!(q.field_type.as_str(), "Radio" | "Checkbox")
}

/// Parses `YYYY-MM-DD` or `DD.MM.YYYY`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s.trim(), "%d.%m.%Y"))
        .ok()
}

fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

impl Questionnaire {
    /// Every question (not headers), depth first.
    pub fn questions(&self) -> Vec<&Node> {
        fn walk<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
            for n in nodes {
                if n.node_type == "Question" {
                    out.push(n);
                }
                walk(&n.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// Whether any question is required.
    pub fn has_required(&self) -> bool {
        self.questions().iter().any(|q| q.required)
    }

    /// The tree as the seed's `Questions` answer, with `current` answers
    /// filled in; `only_required` keeps required questions (and headers
    /// that still hold some).
    pub fn render(&self, only_required: bool, current: &[Answer]) -> Vec<QuestionNode> {
        let text: BTreeMap<i64, &str> = current
            .iter()
            .filter(|a| !a.selected)
            .map(|a| (a.id, a.value.as_str()))
            .collect();
        let chosen: BTreeSet<(i64, i64)> = current
            .iter()
            .filter(|a| a.selected)
            .filter_map(|a| a.group_id.map(|g| (g, a.id)))
            .collect();
        fn go(
            nodes: &[Node],
            only_required: bool,
            text: &BTreeMap<i64, &str>,
            chosen: &BTreeSet<(i64, i64)>,
        ) -> Vec<QuestionNode> {
            let mut out = Vec::new();
            for n in nodes {
                let children = go(&n.children, only_required, text, chosen);
                let header = n.node_type != "Question";
                if only_required && ((header && children.is_empty()) || (!header && !n.required)) {
                    continue;
                }
                let options = n.options.iter().map(|(id, name)| QuestionNode {
                    display_name: name.clone(),
                    id: Some(*id),
                    group_id: n.id,
                    selected: n.id.is_some_and(|q| chosen.contains(&(q, *id))),
                    ..QuestionNode::new(NodeKind::Answer)
                });
                out.push(QuestionNode {
                    kind: if header {
                        NodeKind::Header
                    } else {
                        NodeKind::Question
                    },
                    display_name: n.display_name.clone(),
                    description: n.description.clone(),
                    logical_name: n.logical_name.clone(),
                    value: n
                        .id
                        .and_then(|id| text.get(&id))
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    read_only: false,
                    required: (!header).then_some(n.required),
                    id: n.id,
                    group_id: None,
                    selected: false,
                    max_length: n.max_length,
                    field_type: field_type(&n.field_type),
                    children: children.into_iter().chain(options).collect(),
                });
            }
            out
        }
        go(&self.nodes, only_required, &text, &chosen)
    }

    /// Validates a complete set of answers on `today`: every required
    /// question answered, values of the right type and length, options from
    /// their question, one option for Radio, the age rule.
    pub fn validate(
        &self,
        answers: &[Answer],
        today: NaiveDate,
    ) -> Result<Accepted, QuestionErrors> {
        let questions = self.questions();
        let by_id: BTreeMap<i64, &Node> = questions
            .iter()
            .filter_map(|q| q.id.map(|id| (id, *q)))
            .collect();
        let mut errors: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        let mut profile = BTreeMap::new();
        let mut answered = BTreeSet::new();
        let mut picks: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for a in answers {
            let qid = if a.selected {
                a.group_id.unwrap_or(a.id)
            } else {
                a.id
            };
            let Some(q) = by_id.get(&qid) else {
                errors
                    .entry(qid)
                    .or_default()
                    .push("Unknown question".into());
                continue;
            };
            if a.selected {
                let option = is_choice(q)
                    .then(|| q.options.iter().find(|(id, _)| *id == a.id))
                    .flatten();
                match (a.group_id, option) {
                    (Some(_), Some((_, name))) => picks.entry(qid).or_default().push(name.clone()),
                    _ => errors
                        .entry(qid)
                        .or_default()
                        .push("Not an option of this question".into()),
                }
                answered.insert(qid);
                continue;
            }
            let value = a.value.trim();
            if value.is_empty() {
                continue;
            }
            answered.insert(qid);
            let mut fail = |m: String| errors.entry(qid).or_default().push(m);
            match q.field_type.as_str() {
                "Radio" | "Checkbox" => fail("Choose one of the options".into()),
                "Date" => match parse_date(value) {
                    None => fail("Expected a date YYYY-MM-DD".into()),
                    Some(d) if d > today => fail("The date is in the future".into()),
                    Some(d) => {
                        if q.min_age.is_some_and(|min| age_on(d, today) < min as i32) {
                            fail(UNDER_AGE.into());
                        }
                        profile.insert(q.logical_name.clone(), d.format("%Y-%m-%d").to_string());
                    }
                },
                "Number" => match value.parse::<i64>() {
                    Ok(n) => {
                        profile.insert(q.logical_name.clone(), n.to_string());
                    }
                    Err(_) => fail("Expected a whole number".into()),
                },
                "Boolean" => match value {
                    "true" | "false" => {
                        profile.insert(q.logical_name.clone(), value.to_owned());
                    }
                    _ => fail("Expected true or false".into()),
                },
                _ => {
                    if q.max_length
                        .is_some_and(|max| value.chars().count() > max as usize)
                    {
                        fail(format!("At most {} characters", q.max_length.unwrap_or(0)));
                    } else {
                        profile.insert(q.logical_name.clone(), value.to_owned());
                    }
                }
            }
        }
        for (qid, names) in picks {
            let q = by_id[&qid];
            if q.field_type == "Radio" && names.len() > 1 {
                errors
                    .entry(qid)
                    .or_default()
                    .push("Choose only one option".into());
            }
            profile.insert(q.logical_name.clone(), names.join(","));
        }
        for q in &questions {
            if let Some(id) = q.id
                && q.required
                && !answered.contains(&id)
            {
                errors
                    .entry(id)
                    .or_default()
                    .push("An answer is required".into());
            }
        }
        if errors.is_empty() {
            Ok(Accepted {
                answers: answers.to_vec(),
                profile,
            })
        } else {
            Err(errors.into_iter().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: i64, v: &str) -> Answer {
        Answer {
            group_id: None,
            id,
            value: v.into(),
            selected: false,
        }
    }

    fn pick(group: i64, id: i64) -> Answer {
        Answer {
            group_id: Some(group),
            id,
            value: String::new(),
            selected: true,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    /// The default questionnaire's verdict on `answers` today.
    fn validate(answers: &[Answer]) -> Result<Accepted, QuestionErrors> {
        Questionnaire::default().validate(answers, today())
    }

    /// Every required answer: names, birth date, sex (option `sex` of 5).
    fn complete(last: &str, first: &str, birth: &str, sex: i64) -> [Answer; 4] {
        [text(2, last), text(3, first), text(4, birth), pick(5, sex)]
    }

    #[test]
    fn complete_answers_are_accepted_into_a_profile() {
        let ok = validate(&complete("Иванов", "Иван", "1990-05-01", 1)).unwrap();
        assert_eq!(ok.profile["LastName"], "Иванов");
        assert_eq!(ok.profile["Sex"], "Мужской");
        assert_eq!(ok.profile["BirthDate"], "1990-05-01");
    }

    #[test]
    fn under_18_is_refused_with_the_seed_message_and_question_id() {
        let err = validate(&complete("Иванов", "Иван", "2010-01-01", 2)).unwrap_err();
        assert_eq!(err, vec![(4, vec![UNDER_AGE.to_owned()])]);
        // 18 today is allowed; 18 tomorrow is not.
        assert!(validate(&complete("a", "b", "2008-11-22", 1)).is_ok());
        assert!(validate(&complete("a", "b", "2008-11-23", 1)).is_err());
    }

    #[test]
    fn missing_wrong_type_too_long_and_foreign_options_are_named() {
        let long = "x".repeat(101);
        let err = validate(&[
            text(2, &long),
            text(4, "not a date"),
            pick(5, 9),
            text(99, "?"),
        ])
        .unwrap_err();
        let ids: Vec<i64> = err.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![2, 3, 4, 5, 99]);
        let err = validate(&[
            text(2, "a"),
            text(3, "b"),
            text(4, "1990-01-01"),
            pick(5, 1),
            pick(5, 2),
        ])
        .unwrap_err();
        assert_eq!(err, vec![(5, vec!["Choose only one option".to_owned()])]);
    }

    #[test]
    fn render_filters_required_and_shows_current_answers() {
        let q = Questionnaire::default();
        let all = q.render(false, &[text(2, "Иванов"), pick(5, 2)]);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].children.len(), 5);
        assert_eq!(all[0].children[0].value, "Иванов");
        let sex = &all[0].children[4];
        assert_eq!(sex.children.len(), 2);
        assert!(sex.children[1].selected && !sex.children[0].selected);
        let required = q.render(true, &[]);
        assert_eq!(required[0].children.len(), 4, "MiddleName is optional");
    }
}
