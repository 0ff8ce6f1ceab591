//! Access tokens, read from the secrets file by name: events and settings
//! name a token (`credentials_ref`), never carry it, and it is never
//! logged (its `Debug` is redacted).

use std::path::{Path, PathBuf};

/// Longest token accepted.
pub const MAX_TOKEN: usize = 4096;

/// A token. `Debug` prints `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The secrets file: one `name token` per line; `#` comments and blank
/// lines are skipped. Read at every poll, so a rotated token is used at
/// once.
#[derive(Debug, Clone)]
pub struct Secrets {
    file: Option<PathBuf>,
}

impl Secrets {
    /// The secrets in `file` (`None`: no secrets, every poll fails).
    pub fn new(file: Option<PathBuf>) -> Self {
        Self { file }
    }

    /// The token named `name`; the error never holds a token.
    pub fn get(&self, name: &str) -> Result<Secret, String> {
        let file = self
            .file
            .as_deref()
            .ok_or("no secrets file is configured (--secrets-file)")?;
        lookup(file, name)
    }
}

fn lookup(file: &Path, name: &str) -> Result<Secret, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("reading the secrets file {}: {e}", file.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(n, _)| *n == name)
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
        .map(Secret::new)
        .ok_or_else(|| format!("no token named {name:?} in the secrets file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_by_name_and_never_printed() {
        let dir = std::env::temp_dir().join(format!("secrets-{}", std::process::id()));
        std::fs::write(&dir, "# tokens\nvk-main  abc123\nother x\n").unwrap_or_default();
        let s = Secrets::new(Some(dir.clone()));
        assert_eq!(
            s.get("vk-main").map(|t| t.expose().to_owned()),
            Ok("abc123".into())
        );
        assert_eq!(format!("{:?}", s.get("vk-main")), "Ok(Secret(***))");
        assert!(s.get("missing").is_err_and(|e| !e.contains("abc123")));
        let _ = std::fs::remove_file(dir);
    }
}
