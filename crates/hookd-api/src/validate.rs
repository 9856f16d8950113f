//! Field rules shared by the API's inputs: uids, names, channels, URLs. Each check
//! answers a 422 naming the field, in the Svix patterns.

use crate::error::ApiError;

/// `^[a-zA-Z0-9\-_.]+$`, at most 256 characters: uids, event type names, event ids.
pub fn name_like(field: &str, value: &str) -> Result<(), ApiError> {
    check_chars(field, value, 256, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })
}

/// `^[a-zA-Z0-9\-_.:+]+$`, at most 128 characters.
pub fn channel(field: &str, value: &str) -> Result<(), ApiError> {
    check_chars(field, value, 128, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '+')
    })
}

/// `^[a-zA-Z0-9\-_./\\#]+$`, at most 128 characters.
pub fn tag(field: &str, value: &str) -> Result<(), ApiError> {
    check_chars(field, value, 128, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '\\' | '#')
    })
}

/// Lists of channels or names: each item checked, the field path indexed.
pub fn each(
    field: &str,
    values: &[String],
    check: fn(&str, &str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    for (index, value) in values.iter().enumerate() {
        check(&format!("{field}[{index}]"), value)?;
    }
    Ok(())
}

/// An absolute `http` or `https` URL with a host, at most 65,536 characters.
pub fn endpoint_url(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > 65_536 {
        return Err(ApiError::field(
            field,
            "URL is longer than 65536 characters",
        ));
    }
    let parsed = url::Url::parse(value)
        .map_err(|error| ApiError::field(field, format!("not a valid URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::field(
            field,
            format!("scheme must be http or https, found {:?}", parsed.scheme()),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::field(field, "URL has no host"));
    }
    Ok(())
}

/// An endpoint's target: a `command://NAME` naming a command configured on this node,
/// or else an http(s) URL as [`endpoint_url`] checks it.
pub fn endpoint_target(
    field: &str,
    value: &str,
    commands: &std::collections::BTreeSet<String>,
) -> Result<(), ApiError> {
    let Some(name) = hookd_core::command::command_target(value) else {
        return endpoint_url(field, value);
    };
    hookd_core::command::check_command_name(name).map_err(|error| ApiError::field(field, error))?;
    if !commands.contains(name) {
        return Err(ApiError::field(
            field,
            format!(
                "no command named {name:?} is configured on this node (commands are declared by the operator under [commands.{name}] in the config file)"
            ),
        ));
    }
    Ok(())
}

fn check_chars(
    field: &str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(ApiError::field(
            field,
            format!("character {bad:?} is not allowed"),
        ));
    }
    Ok(())
}
