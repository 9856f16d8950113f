"""schemathesis hooks for `peers::schemathesis_finds_the_api_does_what_its_document_says`:
what the run must not do or report, where the configuration cannot say it narrowly
enough (it can neither pick values apart nor scope a check of the stateful phase to one
operation). Each is right and deliberate behaviour of the server.
"""

import base64
import json
import re

import schemathesis

# The document's secret pattern (`WebhookSecret`) admits every `whsk_` 64-byte ed25519
# key pair, because a real one (the seed, then its public key) is valid; the server
# refuses one whose public half is not its seed's, which no pattern can tell. A fuzzer
# cannot derive an ed25519 public key, so every key pair it makes up is one of those.
# Bodies that carry one are not sent, rather than letting every operation that takes a
# secret answer 422 to anything. What the pattern's key pair branch admits: 86 base64
# characters are 64 bytes.
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


# And for a standard-webhooks or svix source's `whpk_` public key: the pattern admits the
# base64 of any 32 bytes, the server only those that are a point of the curve.
PUBLIC_KEY = re.compile(r"whpk_([A-Za-z0-9+/]{43})=?")


def made_up_public_key(text):
    found = PUBLIC_KEY.fullmatch(text)
    if not found:
        return False
    key = base64.b64decode(found.group(1) + "=")
    return not is_curve_point(key.hex())


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
    return not any(
        MADE_UP_KEY_PAIR.fullmatch(text) or made_up_public_key(text) for text in strings(body)
    )


# `DELETE /api/v1/event-type/{name}` archives the event type, as Svix does: a GET still
# answers it, with `archived: true`, and only `?expunge=true` removes it. The check that a
# deleted resource is gone (ST301) is dropped for event types alone, in `filter_failure`.


# A source belongs to an application that is not in its path: its body names it (`appId`),
# and deleting the application deletes its sources. The check that a resource just created
# is there (ST302) knows neither, so it takes two right 404s of a source operation for
# the source's: the one for an unknown `appId` (the link from a new source to its PUT
# mostly gives the source's own application, but now and then schemathesis makes one up),
# whose detail names the field, and the one after the source's application was deleted
# in the same scenario. Only those are dropped; the calls below record what they need.
source_apps = {}  # source id -> its application's id, as created in this run
deleted_apps = set()  # application ids (or uids) deleted in this run


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() == "POST" and case.path == "/api/v1/source" and response.status_code == 201:
        source = json.loads(response.content)
        source_apps[source["id"]] = source["appId"]
    elif case.method.upper() == "DELETE" and case.path == "/api/v1/app/{app_id}" and response.status_code == 204:
        deleted_apps.add(case.path_parameters["app_id"])


@schemathesis.hook
def filter_failure(context, failure, case, response):
    code = getattr(failure, "code", None)
    if code == "ST301":
        return not case.path.startswith("/api/v1/event-type/")
    if code != "ST302" or response.status_code != 404:
        return True
    try:
        detail = json.loads(response.content).get("detail", "")
    except (ValueError, AttributeError):
        return True
    if detail.endswith("(appId) not found"):
        return False
    # An example is sent only of an event type that exists, which the body names.
    if case.path.endswith("/send-example") and detail == "event type not found":
        return False
    source_id = (case.path_parameters or {}).get("source_id")
    return source_apps.get(source_id) not in deleted_apps
