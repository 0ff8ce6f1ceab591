//! Templates with `{{name}}` placeholders, rendered by `minijinja` in strict
//! mode: every placeholder needs a value.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Placeholders without a value, sorted by name.
    #[error("no value for template placeholder(s): {}", names.join(", "))]
    Missing {
        /// The placeholder names.
        names: Vec<String>,
    },
    /// The template text is not valid (e.g. an unclosed `{{`).
    #[error("invalid template: {reason}")]
    Syntax {
        /// The parser's message.
        reason: String,
    },
    /// Rendering failed for another reason.
    #[error("template rendering failed: {reason}")]
    Render {
        /// The engine's message.
        reason: String,
    },
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let mut syntax = SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    // The default delimiters always build; should they not, the default
    // syntax (which also keeps no trailing newline) is the fallback.
    if let Ok(syntax) = syntax.build() {
        env.set_syntax(syntax);
    }
    env
});

/// The placeholder names `template` uses, sorted.
pub fn placeholders(template: &str) -> Result<Vec<String>, TemplateError> {
    let tmpl = ENV
        .template_from_str(template)
        .map_err(|e| TemplateError::Syntax {
            reason: describe(&e),
        })?;
    let mut names: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
    names.sort();
    Ok(names)
}

/// Renders `template`, replacing each `{{name}}` (spaces inside the braces
/// allowed) by `values[name]` verbatim: no HTML or other escaping. A
/// placeholder without a value is [`TemplateError::Missing`] naming it;
/// unused values are fine. Text outside placeholders is kept as is,
/// including a trailing newline.
pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let tmpl = ENV
        .template_from_str(template)
        .map_err(|e| TemplateError::Syntax {
            reason: describe(&e),
        })?;
    let mut missing: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !values.contains_key(name))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(TemplateError::Missing { names: missing });
    }
    tmpl.render(values.clone()).map_err(|e| {
        if e.kind() == minijinja::ErrorKind::UndefinedError {
            TemplateError::Missing {
                names: vec![e.detail().unwrap_or("?").to_owned()],
            }
        } else {
            TemplateError::Render {
                reason: describe(&e),
            }
        }
    })
}

fn describe(e: &minijinja::Error) -> String {
    match (e.detail(), e.line()) {
        (Some(detail), Some(line)) => format!("{detail} (line {line})"),
        (Some(detail), None) => detail.to_owned(),
        (None, Some(line)) => format!("{} (line {line})", e.kind()),
        (None, None) => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const SEED: &str = "{{salutation}} {{title}} {{forename}} {{surname}}, card {{cardnumber}}: \
                        {{amount}} for {{article_description}}.\n";

    #[test]
    fn renders_all_seed_placeholders() {
        let v = values(&[
            ("salutation", "Dear"),
            ("title", "Dr."),
            ("forename", "Jane"),
            ("surname", "O'Hara & Söhne"),
            ("cardnumber", "9276001234567890"),
            ("amount", "1.234,50"),
            ("article_description", "<Coffee> \"large\""),
            ("unused", "x"),
        ]);
        let out = render(SEED, &v).unwrap();
        assert_eq!(
            out,
            "Dear Dr. Jane O'Hara & Söhne, card 9276001234567890: 1.234,50 for <Coffee> \"large\".\n"
        );
    }

    #[test]
    fn a_missing_value_is_an_error_naming_the_placeholder() {
        let v = values(&[
            ("salutation", "Dear"),
            ("title", ""),
            ("forename", "Jane"),
            ("cardnumber", "1"),
            ("amount", "1"),
            ("article_description", "x"),
        ]);
        let err = render(SEED, &v).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Missing {
                names: vec!["surname".into()]
            }
        );
        assert!(err.to_string().contains("surname"), "{err}");
        let err = render("{{a}}{{ b }}{{c}}", &values(&[("b", "1")])).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Missing {
                names: vec!["a".into(), "c".into()]
            }
        );
    }

    #[test]
    fn spaces_inside_braces_and_plain_text_work() {
        assert_eq!(
            render("Hi {{ name }}!", &values(&[("name", "Bo")])).unwrap(),
            "Hi Bo!"
        );
        assert_eq!(
            render("no placeholders", &BTreeMap::new()).unwrap(),
            "no placeholders"
        );
        assert_eq!(render("", &BTreeMap::new()).unwrap(), "");
    }

    #[test]
    fn values_are_not_interpreted_as_templates() {
        let out = render("{{a}}", &values(&[("a", "{{b}} {% if x %}")])).unwrap();
        assert_eq!(out, "{{b}} {% if x %}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(
            render("Hi {{ name", &values(&[("name", "x")])),
            Err(TemplateError::Syntax { .. })
        ));
        assert_eq!(
            placeholders("{{to}} {{text}} {{to}}").unwrap(),
            vec!["text", "to"]
        );
    }
}
