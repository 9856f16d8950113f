//! What `hookd_core::inbound::verify` costs per request, for each provider, on a 1 KiB
//! JSON body signed as the provider signs it (two secrets configured, the second one
//! matching, as during a rotation: the worst case for HMAC providers).
//!
//!     cargo run --release -p hookd-core --example verify_cost
//!
//! Prints one markdown row per provider: the median of 5 rounds, in microseconds per
//! request. A measurement, not a test: figures depend on the machine and its load.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use hookd_core::inbound::{
    self, discord, github, gitlab, meta, paddle, razorpay, shopify, slack, square, stripe, twilio,
    InboundRequest, Provider, VerifierConfig,
};

const URL: &str = "https://hooks.example.com/in/src_bench";
const ROUNDS: usize = 5;

/// A provider, its matching secret, the headers it signs with, and the body.
type Case = (Provider, String, Vec<(String, String)>, Vec<u8>);

fn main() -> std::io::Result<()> {
    let now = 1_700_000_000;
    let mut body = String::from(r#"{"id":"evt_bench","type":"bench.event","data":""#);
    body.push_str(&"x".repeat(1024 - body.len() - 2));
    body.push_str(r#""}"#);
    let body = body.into_bytes();
    let form = format!("MessageSid=SM1&Body={}", "x".repeat(1000)).into_bytes();
    let discord_key = SigningKey::from_bytes(&[7; 32]);
    let discord_public = hex::encode(discord_key.verifying_key().as_bytes());
    let standard = hookd_core::signature::generate_symmetric_secret(&[9; 32]);

    let mut cases: Vec<Case> = vec![
        (
            Provider::Stripe,
            "whsec_s".into(),
            stripe::sign("whsec_s", now, &body),
            body.clone(),
        ),
        (
            Provider::Github,
            "gh".into(),
            github::sign("gh", &body),
            body.clone(),
        ),
        (
            Provider::Shopify,
            "shop".into(),
            shopify::sign("shop", &body),
            body.clone(),
        ),
        (
            Provider::Razorpay,
            "rzp".into(),
            razorpay::sign("rzp", &body),
            body.clone(),
        ),
        (
            Provider::Slack,
            "slack".into(),
            slack::sign("slack", now, &body),
            body.clone(),
        ),
        (
            Provider::Paddle,
            "pdl".into(),
            paddle::sign("pdl", now, &body),
            body.clone(),
        ),
        (
            Provider::Square,
            "sq".into(),
            square::sign("sq", URL, &body),
            body.clone(),
        ),
        (
            Provider::Meta,
            "meta".into(),
            meta::sign("meta", &body),
            body.clone(),
        ),
        (
            Provider::Gitlab,
            "token".into(),
            gitlab::sign("token"),
            body.clone(),
        ),
        (
            Provider::Discord,
            discord_public,
            discord::sign(&discord_key, now, &body),
            body.clone(),
        ),
    ];
    let mut twilio_headers = twilio::sign("tw", URL, &form, true);
    twilio_headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    cases.push((Provider::Twilio, "tw".into(), twilio_headers, form));
    let standard_headers = hookd_core::signature::sign(
        hookd_core::signature::SignatureScheme::Standard,
        None,
        &[&standard],
        "msg_bench",
        now,
        &body,
    )
    .expect("a generated secret signs");
    cases.push((
        Provider::StandardWebhooks,
        standard,
        standard_headers,
        body.clone(),
    ));

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "| provider | body bytes | µs per verify (median of {ROUNDS}) |"
    )?;
    writeln!(out, "|---|---:|---:|")?;
    for (provider, secret, headers, body) in cases {
        let wrong = if provider == Provider::Discord {
            hex::encode(SigningKey::from_bytes(&[8; 32]).verifying_key().as_bytes())
        } else if provider == Provider::StandardWebhooks {
            hookd_core::signature::generate_symmetric_secret(&[10; 32])
        } else {
            "not-the-secret".to_owned()
        };
        let config = VerifierConfig::new(provider, vec![wrong, secret]);
        let request = InboundRequest {
            method: "POST",
            url: URL,
            headers: &headers,
            body: &body,
        };
        assert_eq!(
            inbound::verify(&config, &request, now).map(|v| v.secret_index),
            Ok(1),
            "{provider}"
        );
        let iterations = if provider == Provider::Discord {
            2_000
        } else {
            20_000
        };
        let mut rounds: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..iterations {
                    black_box(inbound::verify(
                        black_box(&config),
                        black_box(&request),
                        now,
                    ))
                    .ok();
                }
                started.elapsed().as_secs_f64() * 1e6 / iterations as f64
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        writeln!(
            out,
            "| {provider} | {} | {:.2} |",
            body.len(),
            rounds[ROUNDS / 2]
        )?;
    }
    Ok(())
}
