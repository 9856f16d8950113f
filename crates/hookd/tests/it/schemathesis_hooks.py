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


@schemathesis.hook
def filter_body(context, body):
    return not any(MADE_UP_KEY_PAIR.fullmatch(text) for text in strings(body))
