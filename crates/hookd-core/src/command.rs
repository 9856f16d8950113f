//! Commands as destinations: the pure rules behind endpoints whose URL is
//! `command://NAME`, a local program the operator declared in the config file.
//!
//! **Invariants:** an API caller only ever names a command, never a program or an
//! argument; environment values come from the payload through JSON pointers the operator
//! wrote; an exit status maps to an [`Outcome`] in one place ([`exit_outcome`]), so the
//! retry policy judges a command exactly as it judges an HTTP answer.

use crate::retry::Outcome;

/// The URL prefix of an endpoint that runs a configured command.
pub const COMMAND_URL_PREFIX: &str = "command://";

/// The status recorded for a run that exited 0, so that attempt views read it as a success.
pub const SUCCESS_STATUS: u16 = 200;

/// Environment variable names hookd sets itself; configured names may not start with it.
pub const RESERVED_ENV_PREFIX: &str = "HOOKD_";

/// The command name of an endpoint URL, when the URL targets a command
/// (`command://deploy` → `Some("deploy")`). Whether the name is valid is
/// [`check_command_name`]'s question.
pub fn command_target(url: &str) -> Option<&str> {
    url.strip_prefix(COMMAND_URL_PREFIX)
}

/// A command name: 1 to 64 characters of `[A-Za-z0-9_-]`.
///
/// # Errors
/// Says what is wrong, for a 422 or a config error.
pub fn check_command_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("command name must not be empty".into());
    }
    if name.len() > 64 {
        return Err("command name must be at most 64 characters".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(format!(
            "character {bad:?} is not allowed in a command name (use letters, digits, - and _)"
        ));
    }
    Ok(())
}

/// An environment variable name the operator may map a pointer to:
/// `[A-Za-z_][A-Za-z0-9_]*`, not starting with `HOOKD_`.
///
/// # Errors
/// Says what is wrong.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("environment variable name must not be empty".into()),
        Some(first) if !(first.is_ascii_alphabetic() || first == '_') => {
            return Err(format!(
                "environment variable name {name:?} must start with a letter or _"
            ))
        }
        Some(_) => {}
    }
    if chars.any(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
        return Err(format!(
            "environment variable name {name:?} may only hold letters, digits and _"
        ));
    }
    if name.to_ascii_uppercase().starts_with(RESERVED_ENV_PREFIX) {
        return Err(format!(
            "environment variable name {name:?} is reserved (hookd sets HOOKD_* itself)"
        ));
    }
    Ok(())
}

/// A JSON pointer (RFC 6901): empty (the whole payload) or starting with `/`, with `~`
/// only in the escapes `~0` and `~1`.
///
/// # Errors
/// Says what is wrong.
pub fn check_json_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "JSON pointer {pointer:?} must be empty or start with / (e.g. \"/repository/full_name\")"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "JSON pointer {pointer:?} has a ~ that is not ~0 or ~1"
            ));
        }
    }
    Ok(())
}

/// The environment a run gets from its payload: for each `(variable, pointer)`, the
/// value the pointer selects: a JSON string as its text, any other value as compact
/// JSON. A pointer that selects nothing (or a payload that is not JSON) leaves its
/// variable unset, so a script can tell "absent" from "empty".
pub fn env_from_payload(mapping: &[(String, String)], payload: &str) -> Vec<(String, String)> {
    let Ok(document) = serde_json::from_str::<serde_json::Value>(payload) else {
        return Vec::new();
    };
    mapping
        .iter()
        .filter_map(|(variable, pointer)| {
            let value = match document.pointer(pointer)? {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some((variable.clone(), value))
        })
        .collect()
}

/// How a run's end is judged and recorded. `exit_code` is `None` when the process did
/// not exit on its own (killed by a signal).
///
/// | run ended with | outcome | recorded status |
/// | --- | --- | --- |
/// | exit 0 | delivered | 200 |
/// | exit N (1–255) | rejected, retried by the schedule | N |
/// | a signal | no response, retried | 0 |
pub fn exit_outcome(exit_code: Option<i32>) -> (Outcome, u16) {
    match exit_code {
        Some(0) => (
            Outcome::Delivered {
                status: SUCCESS_STATUS,
            },
            SUCCESS_STATUS,
        ),
        Some(code) => {
            // Exit codes are 0–255 on Unix; anything else (a platform oddity) is clamped
            // into that range rather than trusted to fit.
            let status = u16::try_from(code)
                .ok()
                .filter(|c| *c <= 255)
                .unwrap_or(255);
            (
                Outcome::Rejected {
                    status,
                    retry_after: None,
                },
                status,
            )
        }
        None => (Outcome::NoResponse, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let check =
            |url: &str, expect: Option<&str>| assert_eq!(command_target(url), expect, "{url}");
        check("command://deploy", Some("deploy"));
        check("command://", Some(""));
        check("https://example.com/command://deploy", None);
        check("COMMAND://deploy", None);
    }

    #[test]
    fn names() {
        let check =
            |name: &str, ok: bool| assert_eq!(check_command_name(name).is_ok(), ok, "{name}");
        check("deploy", true);
        check("run-tests_2", true);
        check("", false);
        check("deploy/prod", false);
        check("de ploy", false);
        check(&"x".repeat(64), true);
        check(&"x".repeat(65), false);
    }

    #[test]
    fn env_names() {
        let check = |name: &str, ok: bool| assert_eq!(check_env_name(name).is_ok(), ok, "{name}");
        check("REF", true);
        check("_private", true);
        check("GIT_REF2", true);
        check("2REF", false);
        check("REF-X", false);
        check("", false);
        check("HOOKD_MSG_ID", false);
        check("hookd_x", false);
    }

    #[test]
    fn pointers() {
        let check = |pointer: &str, ok: bool| {
            assert_eq!(check_json_pointer(pointer).is_ok(), ok, "{pointer}")
        };
        check("", true);
        check("/ref", true);
        check("/a~1b/c~0d", true);
        check("ref", false);
        check("/a~2", false);
        check("/a~", false);
    }

    #[test]
    fn env_values_follow_pointers() {
        let mapping = vec![
            ("REF".to_owned(), "/ref".to_owned()),
            ("REPO".to_owned(), "/repository/full_name".to_owned()),
            ("COUNT".to_owned(), "/count".to_owned()),
            ("OBJ".to_owned(), "/repository".to_owned()),
            ("MISSING".to_owned(), "/nope".to_owned()),
            ("SLASHED".to_owned(), "/a~1b".to_owned()),
        ];
        let payload =
            r#"{"ref":"refs/heads/main","repository":{"full_name":"o/r"},"count":3,"a/b":true}"#;
        assert_eq!(
            env_from_payload(&mapping, payload),
            vec![
                ("REF".into(), "refs/heads/main".into()),
                ("REPO".into(), "o/r".into()),
                ("COUNT".into(), "3".into()),
                ("OBJ".into(), r#"{"full_name":"o/r"}"#.into()),
                ("SLASHED".into(), "true".into()),
            ]
        );
        assert!(env_from_payload(&mapping, "not json").is_empty());
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(
            exit_outcome(Some(0)),
            (Outcome::Delivered { status: 200 }, 200)
        );
        assert_eq!(
            exit_outcome(Some(3)),
            (
                Outcome::Rejected {
                    status: 3,
                    retry_after: None
                },
                3
            )
        );
        assert_eq!(
            exit_outcome(Some(-1)),
            (
                Outcome::Rejected {
                    status: 255,
                    retry_after: None
                },
                255
            )
        );
        assert_eq!(exit_outcome(None), (Outcome::NoResponse, 0));
    }
}
