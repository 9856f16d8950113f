"""schemathesis hooks for `peers::schemathesis_finds_the_api_does_what_its_document_says`.

The document's secret pattern (`WebhookSecret`) admits every `whsk_` 64-byte ed25519
key pair, because a real one (the seed, then its public key) is valid; the server
refuses one whose public half is not its seed's, which no pattern can tell. A fuzzer
cannot derive an ed25519 public key, so every key pair it makes up is one of those.
This drops the generated bodies that carry one, rather than letting the operations
that take a secret answer 422 to anything.
"""

import re

import schemathesis

# What the pattern's key pair branch admits: 86 base64 characters are 64 bytes.
MADE_UP_KEY_PAIR = re.compile(r"whsk_[A-Za-z0-9+/]{86}(?:==)?")


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# The same for a discord source's secret, the application's ed25519 public key: the
# document admits any 64 hex characters, and the server refuses (422) the half of them
# that are no point of the curve. Those the fuzzer made up are not sent either; which
# they are takes the curve's arithmetic, below.
HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}")
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P


def is_curve_point(key):
    """Whether the compressed Edwards point `key` decompresses: x² = (y² - 1) / (d·y² + 1)
    must have a root, as in ed25519-dalek's `VerifyingKey::from_bytes`."""
    y = int.from_bytes(bytes.fromhex(key), "little") & ((1 << 255) - 1)
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    return x2 == 0 or pow(x2, (P - 1) // 2, P) == 1


def made_up_discord_key(body):
    if not isinstance(body, dict) or body.get("provider") != "discord":
        return False
    secrets = [body.get("secret")] + (body.get("secrets") if isinstance(body.get("secrets"), list) else [])
    return any(
        isinstance(secret, str) and HEX_KEY.fullmatch(secret) and not is_curve_point(secret)
        for secret in secrets
    )


@schemathesis.hook
def filter_body(context, body):
    if made_up_discord_key(body):
        return False
    return not any(MADE_UP_KEY_PAIR.fullmatch(text) for text in strings(body))
