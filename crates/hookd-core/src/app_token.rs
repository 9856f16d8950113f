//! Scoped access tokens for browsers: short-lived, stateless, signed.
//!
//! A token reads `hkat.<application id>.<expiry, unix seconds>.<signature>`, where the
//! signature is the unpadded base64url HMAC-SHA256 of everything before its dot, keyed
//! with a server secret that every node shares. Nothing is stored per token, so any node
//! can check any token; the price is that a token cannot be revoked before it expires,
//! which is why they are short-lived.
//!
//! A bin token has the same shape with a bin id (`hkat.bin_….<expiry>.<signature>`) and
//! opens only that inspector bin ([`issue_bin`], [`verify_bin`]). The id's prefix is part
//! of what is signed, so an application token never passes as a bin token or back.
//!
//! **Invariants:** a token is accepted only with a valid signature, before its expiry,
//! and only for the one application (or bin) it names. Signatures are compared in constant time.
//! No clock is read here: `now` is a parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::{ApplicationId, BinId};

/// Every app token starts with this, so it is told from an admin token at a glance.
pub const PREFIX: &str = "hkat.";

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTokenClaims {
    pub app_id: ApplicationId,
    /// Unix seconds; the token is refused from this second on.
    pub expires_at: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppTokenError {
    #[error("not an application token (expected hkat.<app>.<expiry>.<signature>)")]
    Malformed,
    #[error("the token's signature is invalid (made by another server, or altered)")]
    BadSignature,
    #[error("the token expired at unix time {expires_at}")]
    Expired { expires_at: i64 },
}

/// Whether `token` has the shape of an app token (whatever its validity).
pub fn looks_like(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A token for `app_id` valid until `expires_at` (unix seconds), signed with `key`.
pub fn issue(key: &[u8], app_id: &ApplicationId, expires_at: i64) -> String {
    let signed = format!("{PREFIX}{app_id}.{expires_at}");
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &signed).finalize().into_bytes());
    format!("{signed}.{signature}")
}

/// Checks `token` at `now` (unix seconds) and returns what it grants.
///
/// # Errors
/// `Malformed` for anything not shaped like a token, `BadSignature` when the signature
/// does not match, `Expired` when `now` is at or past its expiry (checked only after the
/// signature, so an altered expiry is a bad signature).
pub fn verify(key: &[u8], token: &str, now: i64) -> Result<AppTokenClaims, AppTokenError> {
    let (app_id, expires_at) = verify_signed(key, token, now, ApplicationId::parse)?;
    Ok(AppTokenClaims { app_id, expires_at })
}

/// What a valid bin token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinTokenClaims {
    pub bin_id: BinId,
    /// Unix seconds; the token is refused from this second on.
    pub expires_at: i64,
}

/// A token that reads the bin `bin_id` until `expires_at` (unix seconds), signed with `key`.
pub fn issue_bin(key: &[u8], bin_id: &BinId, expires_at: i64) -> String {
    let signed = format!("{PREFIX}{bin_id}.{expires_at}");
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &signed).finalize().into_bytes());
    format!("{signed}.{signature}")
}

/// Checks a bin token at `now` (unix seconds) and returns what it grants.
///
/// # Errors
/// As [`verify`]; an application token is `Malformed` here.
pub fn verify_bin(key: &[u8], token: &str, now: i64) -> Result<BinTokenClaims, AppTokenError> {
    let (bin_id, expires_at) = verify_signed(key, token, now, BinId::parse)?;
    Ok(BinTokenClaims { bin_id, expires_at })
}

/// Checks the shape, the signature, then the expiry; returns the subject `parse` made
/// of the id and the expiry.
fn verify_signed<T>(
    key: &[u8],
    token: &str,
    now: i64,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<(T, i64), AppTokenError> {
    let (signed, signature) = token.rsplit_once('.').ok_or(AppTokenError::Malformed)?;
    let rest = signed
        .strip_prefix(PREFIX)
        .ok_or(AppTokenError::Malformed)?;
    let (subject, expires_at) = rest.rsplit_once('.').ok_or(AppTokenError::Malformed)?;
    let subject = parse(subject).ok_or(AppTokenError::Malformed)?;
    if expires_at.is_empty() || !expires_at.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppTokenError::Malformed);
    }
    let expires_at: i64 = expires_at.parse().map_err(|_| AppTokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AppTokenError::Malformed)?;
    mac(key, signed)
        .verify_slice(&signature)
        .map_err(|_| AppTokenError::BadSignature)?;
    if now >= expires_at {
        return Err(AppTokenError::Expired { expires_at });
    }
    Ok((subject, expires_at))
}

fn mac(key: &[u8], signed: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(signed.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// A fresh application id (ids are unique per process, so each call differs).
    fn app() -> ApplicationId {
        ApplicationId::new(1_700_000_000_000, [3; 14])
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let app = app();
        let token = issue(KEY, &app, 2_000);
        assert!(looks_like(&token));
        assert!(token.starts_with(&format!("hkat.{app}.2000.")));
        let claims = verify(KEY, &token, 1_999).unwrap();
        assert_eq!(claims.app_id, app);
        assert_eq!(claims.expires_at, 2_000);
        assert_eq!(
            verify(KEY, &token, 2_000),
            Err(AppTokenError::Expired { expires_at: 2_000 })
        );
    }

    #[test]
    fn bin_tokens_open_only_their_bin_and_never_pass_as_app_tokens() {
        let bin = BinId::new(1_700_000_000_000, [5; 14]);
        let token = issue_bin(KEY, &bin, 2_000);
        assert!(looks_like(&token));
        let claims = verify_bin(KEY, &token, 1_999).unwrap();
        assert_eq!(claims.bin_id, bin);
        assert_eq!(
            verify_bin(KEY, &token, 2_000),
            Err(AppTokenError::Expired { expires_at: 2_000 })
        );
        assert_eq!(verify(KEY, &token, 1_000), Err(AppTokenError::Malformed));
        let app_token = issue(KEY, &app(), 2_000);
        assert_eq!(
            verify_bin(KEY, &app_token, 1_000),
            Err(AppTokenError::Malformed)
        );
        assert_eq!(
            verify_bin(b"another key", &token, 1_000),
            Err(AppTokenError::BadSignature)
        );
    }

    #[test]
    fn refusals() {
        let token = issue(KEY, &app(), 2_000);
        let other_app = issue(KEY, &ApplicationId::new(1_700_000_000_001, [4; 14]), 2_000);
        let (other_signed, _) = other_app.rsplit_once('.').unwrap();
        let (_, signature) = token.rsplit_once('.').unwrap();
        let cases = [
            (
                issue(b"another key", &app(), 2_000),
                AppTokenError::BadSignature,
            ),
            (
                token.replace(".2000.", ".9000."),
                AppTokenError::BadSignature,
            ),
            (
                format!("{other_signed}.{signature}"),
                AppTokenError::BadSignature,
            ),
            (format!("{token}x"), AppTokenError::BadSignature),
            ("hkat.".to_owned(), AppTokenError::Malformed),
            ("hookd_admin".to_owned(), AppTokenError::Malformed),
            (token.replace(".2000.", ".-1."), AppTokenError::Malformed),
            (token.replace(".2000.", ".."), AppTokenError::Malformed),
            (token.replacen("app_", "ep_", 1), AppTokenError::Malformed),
            (format!("{token}!"), AppTokenError::Malformed),
            (
                format!("hkat.{}.99999999999999999999999.x", app()),
                AppTokenError::Malformed,
            ),
        ];
        for (candidate, expected) in cases {
            assert_eq!(verify(KEY, &candidate, 1_000), Err(expected), "{candidate}");
        }
    }
}
