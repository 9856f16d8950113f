//! Field rules shared by the API's inputs: names, uids, channels, tags, header names and
//! values, URLs, secrets. Each check answers a 422 naming the field, in the Svix patterns.
//!
//! Each rule also has a schema here (the unit types at the end, named after the rule),
//! which the DTOs point their fields at with `#[schema(value_type = …)]`, so that the
//! OpenAPI document says what the check refuses.
//!
//! **Invariant:** a value matches a rule's schema exactly when its check accepts it, but
//! for the two parts of rules that JSON Schema cannot say, where the schema's description
//! says the difference:
//!
//! - which URLs the WHATWG parser takes: the URL schema is the stricter of the two, and
//!   states the URLs it can vouch for;
//! - whether the halves of an ed25519 key pair (`whsk_`, 64 bytes) belong together: the
//!   secret schema admits every key pair of the right shape, because a real one (as
//!   `signature::generate_ed25519_secret` makes) must be valid by the document, and the
//!   check refuses one whose public half is not its seed's (422).
//!
//! The tests compare checks and schemas on the edge cases.

use utoipa::openapi::schema::Type;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema};

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

/// The characters a name may not consist of only: Unicode `White_Space`, exactly the
/// characters `char::is_whitespace` accepts. Spelled out because regex engines disagree
/// about `\s` (Python's also has U+001C..U+001F, ECMAScript's U+FEFF) and the document's
/// pattern, built from this list, must say what [`not_blank`] does.
const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{d}'),
    ('\u{20}', '\u{20}'),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

fn is_blank_char(c: char) -> bool {
    WHITESPACE
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// A display name: at least one character that is not whitespace ([`WHITESPACE`]).
pub fn not_blank(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().all(is_blank_char) {
        return Err(ApiError::field(
            field,
            "must not be empty or only whitespace",
        ));
    }
    Ok(())
}

/// An HTTP header name: an RFC 9110 token (any case).
pub fn header_name(field: &str, name: &str) -> Result<(), ApiError> {
    axum::http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| ApiError::field(field, format!("{name:?} is not a valid HTTP header name")))
}

/// An HTTP header value: no control characters but tab.
pub fn header_value(field: &str, value: &str) -> Result<(), ApiError> {
    axum::http::HeaderValue::from_str(value)
        .map(|_| ())
        .map_err(|_| ApiError::field(field, "not a valid HTTP header value"))
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

// The rules as JSON Schema. Patterns use only what ECMAScript, Python and Rust's regex
// engines read alike: explicit classes (no `\s`, `\w`, case folding), `\uXXXX` escapes,
// and negative lookahead for the values a rule excludes.

const NAME_LIKE_CHARS: &str = r"[a-zA-Z0-9\-_.]";
const TOKEN: &str = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$";

/// Headers an endpoint may not set: hookd sets them on every delivery.
pub(crate) const ENDPOINT_RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
];

/// Headers a bin's answer may not set: the server frames the answer itself.
pub(crate) const BIN_RESERVED_HEADERS: &[&str] =
    &["content-length", "transfer-encoding", "connection"];

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A pattern matching `word` in any ASCII case, for header names.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                regex_escape(c)
            }
        })
        .collect()
}

fn regex_escape(c: char) -> String {
    if r"\.^$*+?()[]{}|/".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

/// `^(?!excluded$|…)` in front of `rest` (which starts after its own `^`).
fn excluding(excluded: &[String], rest: &str) -> String {
    let rest = rest.strip_prefix('^').unwrap_or(rest);
    let alternatives: Vec<String> = excluded.iter().map(|word| format!("{word}$")).collect();
    format!("^(?!{}){rest}", alternatives.join("|"))
}

/// A uid that must not look like an id with `prefix` (nor be one of `reserved`).
fn uid_schema(prefix: &str, reserved: &[&str], description: &str) -> RefOr<Schema> {
    let mut excluded = vec![format!(
        "{}[A-Za-z0-9]{{{}}}",
        regex_escape_all(prefix),
        hookd_core::ids::ID_BODY_LEN
    )];
    excluded.extend(reserved.iter().map(|word| regex_escape_all(word)));
    string()
        .description(Some(description))
        .min_length(Some(1))
        .max_length(Some(256))
        .pattern(Some(excluding(&excluded, &format!("^{NAME_LIKE_CHARS}+$"))))
        .build()
        .into()
}

/// What [`check_chars`] accepts: 1 to `max` characters, each in the class `chars`.
fn chars_schema(chars: &str, max: usize) -> RefOr<Schema> {
    string()
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!("^{chars}+$")))
        .build()
        .into()
}

fn regex_escape_all(word: &str) -> String {
    word.chars().map(regex_escape).collect()
}

/// Declares a unit type whose schema states one rule, for `#[schema(value_type = …)]`.
/// It is never constructed: the field itself keeps its Rust type.
macro_rules! rule_schema {
    ($(#[$meta:meta])* $name:ident => $schema:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::Schema> {
                $schema
            }
        }

        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}
pub(crate) use rule_schema;

rule_schema!(
    /// A display name ([`not_blank`]).
    Name => string()
        .description(Some(
            "Any text with at least one character that is not Unicode White_Space (U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).",
        ))
        .min_length(Some(1))
        .pattern(Some(not_blank_pattern()))
        .build()
        .into()
);

rule_schema!(
    /// [`name_like`]: event type names, event ids, group names, feature flags.
    NameLike => chars_schema(NAME_LIKE_CHARS, 256)
);

rule_schema!(
    /// An id or a uid in a path: both are [`name_like`].
    IdOrUid => string()
        .description(Some("An id, or the uid given at creation."))
        .min_length(Some(1))
        .max_length(Some(256))
        .pattern(Some(format!("^{NAME_LIKE_CHARS}+$")))
        .build()
        .into()
);

rule_schema!(
    /// An application's uid.
    AppUid => uid_schema(
        hookd_core::ids::ApplicationId::PREFIX,
        &[hookd_core::operational::OPERATIONAL_APP_UID],
        "Letters, digits, `-`, `_` and `.`; not shaped like an application id (`app_…`), and not `hookd-operational` (the operational webhooks' application).",
    )
);

rule_schema!(
    /// An endpoint's uid.
    EndpointUid => uid_schema(
        hookd_core::ids::EndpointId::PREFIX,
        &[],
        "Letters, digits, `-`, `_` and `.`; not shaped like an endpoint id (`ep_…`).",
    )
);

rule_schema!(
    /// A source's uid.
    SourceUid => uid_schema(
        hookd_core::ids::SourceId::PREFIX,
        &[],
        "Letters, digits, `-`, `_` and `.`; not shaped like a source id (`src_…`).",
    )
);

rule_schema!(
    /// [`channel`].
    Channel => chars_schema(r"[a-zA-Z0-9\-_.:+]", 128)
);

rule_schema!(
    /// [`tag`].
    Tag => chars_schema(r"[a-zA-Z0-9\-_./\\#]", 128)
);

rule_schema!(
    /// [`header_name`].
    HeaderName => string()
        .description(Some("An HTTP header name (an RFC 9110 token, any case)."))
        .min_length(Some(1))
        .max_length(Some(65535))
        .pattern(Some(TOKEN))
        .build()
        .into()
);

/// A header name that [`header_name`] accepts and that is none of `reserved` (in any
/// case), described as "other than `what`".
fn header_name_except(reserved: &[&str], what: &str) -> RefOr<Schema> {
    string()
        .description(Some(format!(
            "An HTTP header name (an RFC 9110 token, any case), other than {what}: {}.",
            reserved.join(", ")
        )))
        .min_length(Some(1))
        .max_length(Some(65535))
        .pattern(Some(excluding(
            &reserved
                .iter()
                .map(|name| any_case(name))
                .collect::<Vec<_>>(),
            TOKEN,
        )))
        .build()
        .into()
}

rule_schema!(
    /// A custom header of an endpoint: [`header_name`], not one hookd sets.
    EndpointHeaderName => header_name_except(ENDPOINT_RESERVED_HEADERS, "the ones hookd sets")
);

rule_schema!(
    /// A header of a bin's answer: [`header_name`], not one the server frames with.
    BinHeaderName => header_name_except(BIN_RESERVED_HEADERS, "the ones the server frames the answer with")
);

rule_schema!(
    /// [`header_value`].
    HeaderValue => string()
        .description(Some("An HTTP header value: no control characters but tab."))
        .pattern(Some(r"^[^\u0000-\u0008\u000A-\u001F\u007F]*$"))
        .build()
        .into()
);

rule_schema!(
    /// [`endpoint_url`], for the URLs the pattern can vouch for.
    HttpUrl => string()
        .description(Some(
            "An absolute http or https URL with a host name. The server takes any URL the WHATWG URL standard parses with an http(s) scheme and a host (IP addresses too); the pattern states a part it can vouch for.",
        ))
        .min_length(Some(1))
        .max_length(Some(65536))
        .pattern(Some(HTTP_URL))
        .build()
        .into()
);

/// http(s), then a host name whose last label starts with a letter (so it never reads as
/// an IPv4 address) and without `xn--` (which IDNA would decode, and may refuse), a port of
/// at most four digits, and any printable ASCII after it.
const HTTP_URL: &str = r"^https?://(?![^/?#]*[Xx][Nn]--)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,4})?(?:[/?#][!-~]*)?$";

rule_schema!(
    /// A Standard Webhooks signing secret, as `signature::validate_secret` takes it for
    /// the `standard` and `svix` schemes.
    WebhookSecret => string()
        .description(Some(
            "`whsec_` and the base64 of 24 to 64 random bytes (padding optional), or `whsk_` and the base64 of an ed25519 key: a 32-byte seed, or a 64-byte key pair (the seed, then its public key). A key pair whose public key is not its seed's is refused (422): the pattern cannot tell.",
        ))
        .pattern(Some(webhook_secret_pattern()))
        .build()
        .into()
);

/// A pattern that finds a character that is not [`WHITESPACE`] ([`not_blank`]).
pub(crate) fn not_blank_pattern() -> String {
    format!("[^{}]", whitespace_class())
}

/// The [`WHITESPACE`] ranges as the inside of a character class.
fn whitespace_class() -> String {
    WHITESPACE
        .iter()
        .map(|(first, last)| {
            if first == last {
                format!("\\u{:04X}", u32::from(*first))
            } else {
                format!("\\u{:04X}-\\u{:04X}", u32::from(*first), u32::from(*last))
            }
        })
        .collect()
}

/// Base64 exactly as the secret decoder reads it: standard alphabet, padding optional,
/// the unused bits of the last character zero.
fn webhook_secret_pattern() -> String {
    const QUAD: &str = "[A-Za-z0-9+/]{4}";
    // One byte after the last quad: two characters, the second's low four bits zero.
    const ONE: &str = "[A-Za-z0-9+/][AQgw](?:==)?";
    // Two bytes: three characters, the third's low two bits zero.
    const TWO: &str = "[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=?";
    // 24 to 64 bytes: 8 to 20 quads and an optional tail, or 21 quads (63 bytes) and at
    // most one more byte. A 32-byte seed: 10 quads and two bytes; a 64-byte key pair: 21
    // quads and one byte.
    format!(
        "^(?:whsec_(?:(?:{QUAD}){{8,20}}(?:{ONE}|{TWO})?|(?:{QUAD}){{21}}(?:{ONE})?)|whsk_(?:(?:{QUAD}){{10}}{TWO}|(?:{QUAD}){{21}}{ONE}))$"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use hookd_core::signature::{validate_secret, SignatureScheme};
    use utoipa::ToSchema;

    fn validator<T: ToSchema>() -> jsonschema::Validator {
        let schema = serde_json::to_value(T::schema()).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    /// Asserts the schema of `T` and `check` agree on every sample.
    fn agree<T: ToSchema>(check: impl Fn(&str) -> bool, samples: &[&str]) {
        let schema = validator::<T>();
        for sample in samples {
            let value = serde_json::Value::String((*sample).to_owned());
            assert_eq!(
                schema.is_valid(&value),
                check(sample),
                "{} and its check disagree on {sample:?}",
                T::name()
            );
        }
    }

    #[test]
    fn the_blank_test_is_rusts_whitespace_exactly() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(is_blank_char(c), c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn a_name_is_blank_by_the_same_characters_in_the_schema_and_the_check() {
        let mut samples: Vec<String> = ["", "a", " a ", "\u{1c}", "\u{1f}", "\u{feff}", "\u{85}"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        samples.extend(
            (0..0x3100u32)
                .filter_map(char::from_u32)
                .map(|c| format!(" {c}\t")),
        );
        let samples: Vec<&str> = samples.iter().map(String::as_str).collect();
        agree::<Name>(|value| not_blank("name", value).is_ok(), &samples);
    }

    #[test]
    fn name_like_channel_and_tag_schemas_match_their_checks() {
        let long = "a".repeat(257);
        let samples = [
            "",
            "a",
            "a-b_c.d",
            "a:b",
            "a+b",
            "a/b",
            "a\\b",
            "a#b",
            "a b",
            "é",
            "a\n",
            &long[..128],
            &long[..129],
            &long[..256],
            &long,
        ];
        agree::<NameLike>(|value| name_like("x", value).is_ok(), &samples);
        agree::<Channel>(|value| channel("x", value).is_ok(), &samples);
        agree::<Tag>(|value| tag("x", value).is_ok(), &samples);
    }

    #[test]
    fn uid_schemas_exclude_id_shapes_and_the_reserved_uid() {
        let app_id = hookd_core::ids::ApplicationId::new(1, [7; 14]).to_string();
        let endpoint_id = hookd_core::ids::EndpointId::new(1, [7; 14]).to_string();
        let schema = validator::<AppUid>();
        for (uid, valid) in [
            ("acme", true),
            (app_id.as_str(), false),
            (&app_id[..app_id.len() - 1], true),
            (endpoint_id.as_str(), true),
            ("hookd-operational", false),
            ("hookd-operational2", true),
            ("a b", false),
        ] {
            assert_eq!(schema.is_valid(&uid.into()), valid, "{uid}");
        }
        let schema = validator::<EndpointUid>();
        assert!(!schema.is_valid(&endpoint_id.as_str().into()));
        assert!(schema.is_valid(&app_id.as_str().into()));
    }

    #[test]
    fn header_schemas_match_the_header_checks() {
        let names = [
            "",
            "x-a",
            "X-A",
            "a b",
            "a:b",
            "!#$%&'*+-.^_`|~",
            "é",
            "a\"b",
            "Host",
            "hOsT",
            "content-type",
            "webhook-id",
            "webhook-idx",
            "x-host",
            "Connection",
        ];
        agree::<HeaderName>(|name| header_name("x", name).is_ok(), &names);
        agree::<EndpointHeaderName>(
            |name| {
                header_name("x", name).is_ok()
                    && !ENDPOINT_RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            },
            &names,
        );
        agree::<BinHeaderName>(
            |name| {
                header_name("x", name).is_ok()
                    && !BIN_RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            },
            &names,
        );
        let values: Vec<String> = (0..0x100u32)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .chain(["".to_owned(), "é ü".to_owned()])
            .collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        agree::<HeaderValue>(|value| header_value("x", value).is_ok(), &values);
    }

    #[test]
    fn urls_the_pattern_admits_are_urls_the_check_takes() {
        let schema = validator::<HttpUrl>();
        for (url, admitted) in [
            ("http://a", true),
            ("https://example.com:8080/x?y=1#z", true),
            ("http://a-b.c9/~!$&'()*+,;=:@%zz\"<>{}|^`\\", true),
            ("http://localhost:9999", true),
            ("http://127.0.0.1/", false),
            ("ftp://a", false),
            ("http://", false),
            ("http://a b", false),
            ("http://-a", false),
            ("http://a:99999", false),
            ("http://xn--a.com", false),
            ("command://x", false),
        ] {
            assert_eq!(schema.is_valid(&url.into()), admitted, "{url}");
            if admitted {
                endpoint_url("url", url).unwrap();
            }
        }
    }

    #[test]
    fn the_secret_pattern_matches_what_the_standard_scheme_takes() {
        let schema = validator::<WebhookSecret>();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        for length in 0..70 {
            let bytes: Vec<u8> = (0..length).map(|i| (i * 37 + 11) as u8).collect();
            for engine in &engines {
                let encoded = engine.encode(&bytes);
                let mut candidates = vec![format!("whsec_{encoded}"), format!("whsk_{encoded}")];
                // The same with a non-zero unused bit in the last character, where there is one.
                if let Some(last) = encoded.trim_end_matches('=').chars().last() {
                    if length % 3 != 0 {
                        let tweaked = match last {
                            'A' => 'B',
                            'Q' => 'R',
                            'g' => 'h',
                            'w' => 'x',
                            other => other,
                        };
                        let body = encoded.trim_end_matches('=');
                        let padding = &encoded[body.len()..];
                        candidates.push(format!(
                            "whsec_{}{tweaked}{padding}",
                            &body[..body.len() - 1]
                        ));
                    }
                }
                for secret in candidates {
                    let taken = validate_secret(SignatureScheme::Standard, &secret).is_ok();
                    // These bytes are no key pair, which only the check can tell.
                    let key_pair_shaped = length == 64 && secret.starts_with("whsk_");
                    assert_eq!(
                        schema.is_valid(&secret.as_str().into()),
                        taken || key_pair_shaped,
                        "{secret}"
                    );
                }
            }
        }
        for secret in ["whsec_", "whsec_AAAA=", "secret", "whpk_AAAA", ""] {
            assert!(!schema.is_valid(&secret.into()), "{secret}");
            assert!(validate_secret(SignatureScheme::Standard, secret).is_err());
        }
    }

    #[test]
    fn the_secret_pattern_admits_ed25519_key_pairs_and_the_check_tells_them_apart() {
        use hookd_core::signature::generate_ed25519_secret;
        let schema = validator::<WebhookSecret>();
        let standard = base64::engine::general_purpose::STANDARD;
        let key_pair = generate_ed25519_secret([7; 32]);
        let mut bytes = standard.decode(&key_pair["whsk_".len()..]).unwrap();
        assert_eq!(bytes.len(), 64);
        let unpadded = key_pair.trim_end_matches('=').to_owned();
        let seed = format!("whsk_{}", standard.encode(&bytes[..32]));
        for secret in [&key_pair, &unpadded, &seed] {
            assert!(schema.is_valid(&secret.as_str().into()), "{secret}");
            validate_secret(SignatureScheme::Standard, secret).unwrap();
        }
        // A public half that is not the seed's: the same shape, refused by the check only.
        bytes[40] ^= 1;
        let mismatched = format!("whsk_{}", standard.encode(&bytes));
        assert!(schema.is_valid(&mismatched.as_str().into()));
        assert!(validate_secret(SignatureScheme::Standard, &mismatched).is_err());
        // One byte short or over is no key pair, by either.
        for length in [63, 65] {
            let secret = format!("whsk_{}", standard.encode(vec![1; length]));
            assert!(!schema.is_valid(&secret.as_str().into()), "{secret}");
            assert!(validate_secret(SignatureScheme::Standard, &secret).is_err());
        }
    }
}
