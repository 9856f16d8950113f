use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

/// The Standard Webhooks specification's example.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP: i64 = 1614265330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// What a verification case expects.
type Verified = Result<(), VerifyError>;

const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SEED: [u8; 32] = [7; 32];

fn lookup(headers: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.clone())
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(header, _)| header == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no header {name} in {headers:?}"))
}

fn names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(name, _)| name.as_str()).collect()
}

/// HMAC-SHA256 in hex, computed without the module's helpers.
fn independent_hex_hmac(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn sign_spec(scheme: SignatureScheme, secrets: &[&str]) -> Vec<(String, String)> {
    sign(
        scheme,
        None,
        secrets,
        SPEC_MSG_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
    )
    .unwrap()
}

#[test]
fn standard_known_answer() {
    let headers = sign_spec(SignatureScheme::Standard, &[SPEC_SECRET]);
    assert_eq!(
        headers,
        vec![
            ("webhook-id".to_owned(), SPEC_MSG_ID.to_owned()),
            ("webhook-timestamp".to_owned(), SPEC_TIMESTAMP.to_string()),
            ("webhook-signature".to_owned(), SPEC_SIGNATURE.to_owned()),
        ]
    );
    // Without the prefix the secret is the same base64 key, as in the official libraries.
    let bare = SPEC_SECRET.strip_prefix("whsec_").unwrap();
    assert_eq!(
        header(
            &sign_spec(SignatureScheme::Standard, &[bare]),
            "webhook-signature"
        ),
        SPEC_SIGNATURE
    );
}

#[test]
fn each_scheme_emits_its_headers() {
    let check = |scheme, signature_header, expected: &[&str]| {
        let headers = sign(
            scheme,
            signature_header,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
        )
        .unwrap();
        assert_eq!(names(&headers), expected, "{scheme:?} {signature_header:?}");
        if !matches!(scheme, SignatureScheme::Standard | SignatureScheme::Svix) {
            assert_eq!(header(&headers, "webhook-id"), SPEC_MSG_ID);
            assert_eq!(header(&headers, "webhook-timestamp"), "1614265330");
        }
    };
    use SignatureScheme::*;
    check(
        Standard,
        None,
        &["webhook-id", "webhook-timestamp", "webhook-signature"],
    );
    check(Svix, None, &["svix-id", "svix-timestamp", "svix-signature"]);
    check(
        HmacSha256Hex,
        None,
        &["x-webhook-signature", "webhook-id", "webhook-timestamp"],
    );
    check(
        HmacSha256Hex,
        Some("X-Razorpay-Signature"),
        &["x-razorpay-signature", "webhook-id", "webhook-timestamp"],
    );
    check(
        HmacSha256Hex,
        Some(""),
        &["x-webhook-signature", "webhook-id", "webhook-timestamp"],
    );
    check(
        Stripe,
        None,
        &["stripe-signature", "webhook-id", "webhook-timestamp"],
    );
    check(
        Github,
        None,
        &["x-hub-signature-256", "webhook-id", "webhook-timestamp"],
    );
}

#[test]
fn svix_signs_like_standard() {
    let headers = sign_spec(SignatureScheme::Svix, &[SPEC_SECRET]);
    assert_eq!(header(&headers, "svix-signature"), SPEC_SIGNATURE);
    assert_eq!(header(&headers, "svix-id"), SPEC_MSG_ID);
    assert_eq!(
        verify(
            &[SPEC_SECRET],
            &lookup(&headers),
            SPEC_BODY,
            SPEC_TIMESTAMP,
            300
        ),
        Ok(())
    );
}

#[test]
fn rotation_signs_with_every_secret_in_order() {
    let headers = sign_spec(SignatureScheme::Standard, &[OTHER_SECRET, SPEC_SECRET]);
    let signatures: Vec<&str> = header(&headers, "webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2);
    assert_eq!(signatures[1], SPEC_SIGNATURE);
    assert_eq!(
        signatures[0],
        header(
            &sign_spec(SignatureScheme::Standard, &[OTHER_SECRET]),
            "webhook-signature"
        )
    );

    let ed25519 = generate_ed25519_secret(SEED);
    let headers = sign_spec(SignatureScheme::Standard, &[&ed25519, SPEC_SECRET]);
    let signatures: Vec<&str> = header(&headers, "webhook-signature").split(' ').collect();
    assert!(signatures[0].starts_with("v1a,"), "{signatures:?}");
    assert_eq!(signatures[1], SPEC_SIGNATURE);
}

#[test]
fn verify_standard() {
    let signed = sign_spec(SignatureScheme::Standard, &[SPEC_SECRET]);
    let without = |name: &str| -> Vec<(String, String)> {
        signed.iter().filter(|(n, _)| n != name).cloned().collect()
    };
    let replaced = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut headers = without(name);
        headers.push((name.to_owned(), value.to_owned()));
        headers
    };
    let tampered_signature = format!("v1,{}", STANDARD.encode([0u8; 32]));
    let svix_names: Vec<(String, String)> = signed
        .iter()
        .map(|(name, value)| (name.replace("webhook-", "svix-"), value.clone()))
        .collect();

    type Case<'a> = (
        &'a str,
        Vec<(String, String)>,
        &'a [&'a str],
        &'a [u8],
        i64,
        Result<(), VerifyError>,
    );
    let cases: Vec<Case> = vec![
        (
            "valid",
            signed.clone(),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Ok(()),
        ),
        (
            "svix header names",
            svix_names,
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Ok(()),
        ),
        (
            "any secret of several",
            signed.clone(),
            &[OTHER_SECRET, SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Ok(()),
        ),
        (
            "one of several signatures",
            replaced(
                "webhook-signature",
                &format!("v1,bad {tampered_signature} v2,x {SPEC_SIGNATURE}"),
            ),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Ok(()),
        ),
        (
            "edge of the past tolerance",
            signed.clone(),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP + 300,
            Ok(()),
        ),
        (
            "edge of the future tolerance",
            signed.clone(),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP - 300,
            Ok(()),
        ),
        (
            "tampered body",
            signed.clone(),
            &[SPEC_SECRET],
            br#"{"test": 2432232315}"#,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "wrong secret",
            signed.clone(),
            &[OTHER_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "tampered signature",
            replaced("webhook-signature", &tampered_signature),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "truncated signature",
            replaced("webhook-signature", &SPEC_SIGNATURE[..20]),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "version only",
            replaced("webhook-signature", "v1,"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "wrong version",
            replaced(
                "webhook-signature",
                &SPEC_SIGNATURE.replacen("v1,", "v2,", 1),
            ),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "other message id",
            replaced("webhook-id", "msg_other"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "stale",
            signed.clone(),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP + 301,
            Err(VerifyError::TimestampTooOld),
        ),
        (
            "future",
            signed.clone(),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP - 301,
            Err(VerifyError::TimestampTooNew),
        ),
        (
            "extreme timestamp",
            replaced("webhook-timestamp", &i64::MIN.to_string()),
            &[SPEC_SECRET],
            SPEC_BODY,
            i64::MAX,
            Err(VerifyError::TimestampTooOld),
        ),
        (
            "timestamp in milliseconds",
            replaced("webhook-timestamp", "1614265330000"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::TimestampTooNew),
        ),
        (
            "timestamp not a number",
            replaced("webhook-timestamp", "yesterday"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::InvalidTimestamp),
        ),
        (
            "missing id",
            without("webhook-id"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::MissingHeader("webhook-id")),
        ),
        (
            "missing timestamp",
            without("webhook-timestamp"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::MissingHeader("webhook-timestamp")),
        ),
        (
            "missing signature",
            without("webhook-signature"),
            &[SPEC_SECRET],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::MissingHeader("webhook-signature")),
        ),
        (
            "no secrets",
            signed.clone(),
            &[],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::Secret(SecretError::Empty)),
        ),
        (
            "unusable secret",
            signed.clone(),
            &["whsec_!!!"],
            SPEC_BODY,
            SPEC_TIMESTAMP,
            Err(VerifyError::Secret(SecretError::NotBase64)),
        ),
    ];
    for (name, headers, secrets, body, now, expected) in cases {
        assert_eq!(
            verify(secrets, &lookup(&headers), body, now, 300),
            expected,
            "{name}"
        );
    }
}

#[test]
fn ed25519_round_trip() {
    let secret = generate_ed25519_secret(SEED);
    assert!(secret.starts_with("whsk_"));
    assert_eq!(STANDARD.decode(&secret[5..]).unwrap().len(), 64);
    assert_eq!(validate_secret(SignatureScheme::Standard, &secret), Ok(()));

    let public_key = ed25519_public_key(&secret).unwrap();
    assert!(public_key.starts_with("whpk_"));
    assert_eq!(STANDARD.decode(&public_key[5..]).unwrap().len(), 32);
    assert_eq!(ed25519_public_key(&public_key), Ok(public_key.clone()));

    // A 32-byte seed is the same key as its 64-byte keypair.
    let seed_only = format!("whsk_{}", STANDARD.encode(SEED));
    assert_eq!(ed25519_public_key(&seed_only), Ok(public_key.clone()));

    let headers = sign_spec(SignatureScheme::Standard, &[&secret]);
    assert!(header(&headers, "webhook-signature").starts_with("v1a,"));
    assert_eq!(sign_spec(SignatureScheme::Standard, &[&seed_only]), headers);

    let other_public_key = ed25519_public_key(&generate_ed25519_secret([8; 32])).unwrap();
    let cases: Vec<(&str, Vec<&str>, &[u8], Verified)> = vec![
        ("public key", vec![&public_key], SPEC_BODY, Ok(())),
        ("signing key", vec![&secret], SPEC_BODY, Ok(())),
        ("seed", vec![&seed_only], SPEC_BODY, Ok(())),
        (
            "among others",
            vec![SPEC_SECRET, &other_public_key, &public_key],
            SPEC_BODY,
            Ok(()),
        ),
        (
            "tampered body",
            vec![&public_key],
            b"{}",
            Err(VerifyError::InvalidSignature),
        ),
        (
            "other key",
            vec![&other_public_key],
            SPEC_BODY,
            Err(VerifyError::InvalidSignature),
        ),
        // A v1a signature never verifies under an HMAC secret, nor v1 under ed25519.
        (
            "hmac secret",
            vec![SPEC_SECRET],
            SPEC_BODY,
            Err(VerifyError::InvalidSignature),
        ),
    ];
    for (name, secrets, body, expected) in cases {
        assert_eq!(
            verify(&secrets, &lookup(&headers), body, SPEC_TIMESTAMP, 300),
            expected,
            "{name}"
        );
    }
    let hmac_signed = sign_spec(SignatureScheme::Standard, &[SPEC_SECRET]);
    assert_eq!(
        verify(
            &[&public_key],
            &lookup(&hmac_signed),
            SPEC_BODY,
            SPEC_TIMESTAMP,
            300
        ),
        Err(VerifyError::InvalidSignature)
    );
    // A public key can verify but not sign.
    assert_eq!(
        sign(
            SignatureScheme::Standard,
            None,
            &[&public_key],
            "msg",
            0,
            b""
        ),
        Err(SecretError::UnknownPrefix)
    );
}

#[test]
fn validate_secrets() {
    use SignatureScheme::*;
    let keypair = generate_ed25519_secret(SEED);
    let mut mismatched = STANDARD.decode(&keypair[5..]).unwrap();
    mismatched[40] ^= 1;
    let mismatched = format!("whsk_{}", STANDARD.encode(mismatched));
    let cases: Vec<(SignatureScheme, String, Result<(), SecretError>)> = vec![
        (Standard, SPEC_SECRET.to_owned(), Ok(())),
        (Svix, SPEC_SECRET.to_owned(), Ok(())),
        (Standard, generate_symmetric_secret(&[1; 24]), Ok(())),
        (Standard, generate_symmetric_secret(&[1; 64]), Ok(())),
        (
            Standard,
            format!("whsec_{}", STANDARD.encode([1; 23])),
            Err(SecretError::BadLength(23)),
        ),
        (
            Standard,
            format!("whsec_{}", STANDARD.encode([1; 65])),
            Err(SecretError::BadLength(65)),
        ),
        (
            Standard,
            "whsec_".to_owned(),
            Err(SecretError::BadLength(0)),
        ),
        (
            Standard,
            "whsec_not base64!".to_owned(),
            Err(SecretError::NotBase64),
        ),
        (Standard, keypair.clone(), Ok(())),
        (Standard, format!("whsk_{}", STANDARD.encode(SEED)), Ok(())),
        (
            Standard,
            format!("whsk_{}", STANDARD.encode([1; 48])),
            Err(SecretError::BadEd25519Key),
        ),
        (Standard, mismatched, Err(SecretError::BadEd25519Key)),
        (Standard, "whsk_@@".to_owned(), Err(SecretError::NotBase64)),
        (
            Standard,
            ed25519_public_key(&keypair).unwrap(),
            Err(SecretError::UnknownPrefix),
        ),
        (
            Standard,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            Err(SecretError::UnknownPrefix),
        ),
        (
            Standard,
            "hunter2".to_owned(),
            Err(SecretError::UnknownPrefix),
        ),
        (Standard, String::new(), Err(SecretError::Empty)),
        (HmacSha256Hex, "hunter2".to_owned(), Ok(())),
        (Stripe, "whsec_anything goes".to_owned(), Ok(())),
        (Github, "It's a Secret to Everybody".to_owned(), Ok(())),
        (HmacSha256Hex, String::new(), Err(SecretError::Empty)),
        (Stripe, String::new(), Err(SecretError::Empty)),
        (Github, String::new(), Err(SecretError::Empty)),
    ];
    for (scheme, secret, expected) in cases {
        assert_eq!(
            validate_secret(scheme, &secret),
            expected,
            "{scheme:?} {secret:?}"
        );
    }
}

#[test]
fn symmetric_secret_encodes_the_random_bytes() {
    let random: Vec<u8> = (0..32).collect();
    let secret = generate_symmetric_secret(&random);
    assert_eq!(secret, format!("whsec_{}", STANDARD.encode(&random)));
}

#[test]
fn github_known_answer() {
    // From GitHub's "Validating webhook deliveries" documentation.
    let secret = "It's a Secret to Everybody";
    let body = b"Hello, World!";
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let headers = sign(
        SignatureScheme::Github,
        None,
        &[secret, "retired"],
        "msg_1",
        5,
        body,
    )
    .unwrap();
    assert_eq!(header(&headers, "x-hub-signature-256"), expected);

    let cases: Vec<(&str, &str, &[u8], String, Verified)> = vec![
        ("valid", secret, body, expected.to_owned(), Ok(())),
        (
            "upper case hex",
            secret,
            body,
            expected.to_uppercase().replace("SHA256=", "sha256="),
            Ok(()),
        ),
        (
            "tampered body",
            secret,
            b"Hello, World?",
            expected.to_owned(),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "wrong secret",
            "It's a secret",
            body,
            expected.to_owned(),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "missing prefix",
            secret,
            body,
            expected[7..].to_owned(),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "sha1 prefix",
            secret,
            body,
            expected.replace("sha256=", "sha1="),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "empty secret",
            "",
            body,
            expected.to_owned(),
            Err(VerifyError::Secret(SecretError::Empty)),
        ),
    ];
    for (name, secret, body, value, expected) in cases {
        assert_eq!(verify_github(secret, body, &value), expected, "{name}");
    }
}

#[test]
fn hmac_hex_known_answer() {
    let secret = "whsec_used as plain bytes";
    let body = br#"{"event":"payment.captured"}"#;
    let expected = independent_hex_hmac(secret.as_bytes(), body);
    let headers = sign(
        SignatureScheme::HmacSha256Hex,
        Some("X-Signature"),
        &[secret, "retired secret"],
        "msg_1",
        5,
        body,
    )
    .unwrap();
    assert_eq!(header(&headers, "x-signature"), expected);

    let cases: Vec<(&str, &str, &[u8], String, Verified)> = vec![
        ("valid", secret, body, expected.clone(), Ok(())),
        ("upper case", secret, body, expected.to_uppercase(), Ok(())),
        (
            "tampered body",
            secret,
            b"{}",
            expected.clone(),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "wrong secret",
            "retired secret",
            body,
            expected.clone(),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "not hex",
            secret,
            body,
            "zz".repeat(32),
            Err(VerifyError::InvalidSignature),
        ),
        (
            "truncated",
            secret,
            body,
            expected[..62].to_owned(),
            Err(VerifyError::InvalidSignature),
        ),
    ];
    for (name, secret, body, value, expected) in cases {
        assert_eq!(
            verify_hmac_sha256_hex(secret, body, &value),
            expected,
            "{name}"
        );
    }
}

#[test]
fn stripe_known_answer() {
    let (current, retired) = ("whsec_stripe_current", "whsec_stripe_retired");
    let body = br#"{"id":"evt_1"}"#;
    let ts = 1_700_000_000;
    let signed_content = format!("{ts}.{}", std::str::from_utf8(body).unwrap());
    let v1_current = independent_hex_hmac(current.as_bytes(), signed_content.as_bytes());
    let v1_retired = independent_hex_hmac(retired.as_bytes(), signed_content.as_bytes());
    let headers = sign(
        SignatureScheme::Stripe,
        None,
        &[current, retired],
        "msg_1",
        ts,
        body,
    )
    .unwrap();
    let value = header(&headers, "stripe-signature");
    assert_eq!(value, format!("t={ts},v1={v1_current},v1={v1_retired}"));

    // (name, secret, body, header value, now, expected)
    type Case<'a> = (&'a str, &'a str, &'a [u8], String, i64, Verified);
    let cases: Vec<Case> = vec![
        ("current", current, body, value.to_owned(), ts, Ok(())),
        ("retired", retired, body, value.to_owned(), ts, Ok(())),
        (
            "spaces and other schemes",
            current,
            body,
            format!("t={ts}, v0=abc, v1={v1_current}"),
            ts + 300,
            Ok(()),
        ),
        (
            "tampered body",
            current,
            b"{}",
            value.to_owned(),
            ts,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "wrong secret",
            "whsec_other",
            body,
            value.to_owned(),
            ts,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "stale",
            current,
            body,
            value.to_owned(),
            ts + 301,
            Err(VerifyError::TimestampTooOld),
        ),
        (
            "future",
            current,
            body,
            value.to_owned(),
            ts - 301,
            Err(VerifyError::TimestampTooNew),
        ),
        (
            "other timestamp",
            current,
            body,
            format!("t={},v1={v1_current}", ts + 1),
            ts,
            Err(VerifyError::InvalidSignature),
        ),
        (
            "no timestamp",
            current,
            body,
            format!("v1={v1_current}"),
            ts,
            Err(VerifyError::InvalidTimestamp),
        ),
        (
            "bad timestamp",
            current,
            body,
            format!("t=soon,v1={v1_current}"),
            ts,
            Err(VerifyError::InvalidTimestamp),
        ),
        (
            "no signature",
            current,
            body,
            format!("t={ts}"),
            ts,
            Err(VerifyError::InvalidSignature),
        ),
    ];
    for (name, secret, body, value, now, expected) in cases {
        assert_eq!(
            verify_stripe(secret, body, &value, now, 300),
            expected,
            "{name}"
        );
    }
}

#[test]
fn every_scheme_verifies_what_it_signs() {
    use SignatureScheme::*;
    let secrets = [SPEC_SECRET, OTHER_SECRET];
    for scheme in [Standard, Svix, HmacSha256Hex, Stripe, Github] {
        for signature_header in [None, Some("X-Custom-Signature")] {
            let headers = sign(
                scheme,
                signature_header,
                &secrets,
                SPEC_MSG_ID,
                SPEC_TIMESTAMP,
                SPEC_BODY,
            )
            .unwrap();
            let verify_with = |secrets: &[&str], body: &[u8]| {
                verify_scheme(
                    scheme,
                    signature_header,
                    secrets,
                    &lookup(&headers),
                    body,
                    SPEC_TIMESTAMP,
                    300,
                )
            };
            let context = format!("{scheme:?} {signature_header:?}");
            assert_eq!(verify_with(&secrets, SPEC_BODY), Ok(()), "{context}");
            assert_eq!(verify_with(&[SPEC_SECRET], SPEC_BODY), Ok(()), "{context}");
            let tampered = verify_with(&secrets, b"{}");
            assert_eq!(tampered, Err(VerifyError::InvalidSignature), "{context}");
            let wrong_secret = verify_with(&["whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE="], SPEC_BODY);
            assert_eq!(
                wrong_secret,
                Err(VerifyError::InvalidSignature),
                "{context}"
            );
            assert_eq!(
                verify_scheme(
                    scheme,
                    signature_header,
                    &secrets,
                    &|_| None,
                    SPEC_BODY,
                    SPEC_TIMESTAMP,
                    300
                ),
                Err(VerifyError::MissingHeader(match scheme {
                    Standard | Svix => "webhook-id",
                    HmacSha256Hex if signature_header.is_some() => "configured signature header",
                    HmacSha256Hex => DEFAULT_HMAC_HEADER,
                    Stripe => STRIPE_HEADER,
                    Github => GITHUB_HEADER,
                })),
                "{context}"
            );
        }
    }
}

#[test]
fn sign_refuses_unusable_secrets() {
    use SignatureScheme::*;
    let cases: Vec<(SignatureScheme, &[&str], SecretError)> = vec![
        (Standard, &[], SecretError::Empty),
        (Github, &[], SecretError::Empty),
        (Standard, &[""], SecretError::Empty),
        (
            Standard,
            &[SPEC_SECRET, "whsec_%%%"],
            SecretError::NotBase64,
        ),
        (Svix, &["plain words"], SecretError::UnknownPrefix),
        (HmacSha256Hex, &[""], SecretError::Empty),
        (Stripe, &["current", ""], SecretError::Empty),
    ];
    for (scheme, secrets, expected) in cases {
        assert_eq!(
            sign(scheme, None, secrets, "msg_1", 1, b"{}"),
            Err(expected),
            "{scheme:?} {secrets:?}"
        );
    }
}

fn header_map(headers: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

/// What hookd signs verifies with the `standardwebhooks` crate and the other way round,
/// rotation included. That crate reads the real clock, so these use the current time.
#[test]
fn interoperates_with_the_standardwebhooks_crate() {
    let now = unix_now();
    let body = br#"{"type":"invoice.paid","data":{"amount":1200}}"#;
    let secrets = [SPEC_SECRET, OTHER_SECRET];

    let hookd_headers = sign(
        SignatureScheme::Standard,
        None,
        &secrets,
        SPEC_MSG_ID,
        now,
        body,
    )
    .unwrap();
    for secret in secrets {
        let reference = standardwebhooks::Webhook::new(secret).unwrap();
        reference.verify(body, &header_map(&hookd_headers)).unwrap();
        let mut tampered = body.to_vec();
        tampered[0] = b' ';
        assert!(reference
            .verify(&tampered, &header_map(&hookd_headers))
            .is_err());
    }
    let stranger =
        standardwebhooks::Webhook::new("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE=").unwrap();
    assert!(stranger.verify(body, &header_map(&hookd_headers)).is_err());

    let reference_signatures: Vec<String> = secrets
        .iter()
        .map(|secret| {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .sign(SPEC_MSG_ID, now, body)
                .unwrap()
        })
        .collect();
    assert_eq!(
        header(&hookd_headers, "webhook-signature"),
        reference_signatures.join(" ")
    );
    let reference_headers = vec![
        ("webhook-id".to_owned(), SPEC_MSG_ID.to_owned()),
        ("webhook-timestamp".to_owned(), now.to_string()),
        (
            "webhook-signature".to_owned(),
            reference_signatures.join(" "),
        ),
    ];
    let cases: Vec<(&[&str], Result<(), VerifyError>)> = vec![
        (&secrets, Ok(())),
        (&[SPEC_SECRET], Ok(())),
        (&[OTHER_SECRET], Ok(())),
        (
            &["whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE=", OTHER_SECRET],
            Ok(()),
        ),
        (
            &["whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE="],
            Err(VerifyError::InvalidSignature),
        ),
    ];
    for (secrets, expected) in cases {
        assert_eq!(
            verify(secrets, &lookup(&reference_headers), body, now, 300),
            expected,
            "{secrets:?}"
        );
    }
}
