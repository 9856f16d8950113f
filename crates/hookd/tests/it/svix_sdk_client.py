"""Drives hookd with the official Svix Python SDK, unchanged but for its server URL.

Usage: svix_sdk_client.py BASE_URL TOKEN ENDPOINT_URL
Prints one JSON line with what it created; exits non-zero on any SDK error.
"""
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from svix.api import (
    ApplicationIn,
    EndpointIn,
    EventExampleIn,
    MessageAttemptListAttemptedMessagesOptions,
    MessageAttemptListByEndpointOptions,
    MessageIn,
    MessagePrecheckIn,
    MessageStatus,
    ReplayIn,
    Svix,
    StatusCodeClass,
    SvixOptions,
)
from svix.exceptions import HttpError

base, token, endpoint_url = sys.argv[1:4]
svix = Svix(token, SvixOptions(server_url=base))

app = svix.application.create(ApplicationIn(name="SDK app", uid="sdk-app"))
again = svix.application.get_or_create(ApplicationIn(name="SDK app", uid="sdk-app"))
endpoint = svix.endpoint.create(
    app.id, EndpointIn(url=endpoint_url, description="from the SDK", event_types=["invoice.paid"])
)
secret = svix.endpoint.get_secret(app.id, endpoint.id)
assert svix.message.precheck(app.id, MessagePrecheckIn(event_type="invoice.paid")).active
assert not svix.message.precheck(app.id, MessagePrecheckIn(event_type="user.created")).active
message = svix.message.create(
    app.id, MessageIn(event_type="invoice.paid", payload={"amount": 1200, "currency": "EUR"})
)
fetched = svix.message.get(app.id, message.id)
assert fetched.payload == {"amount": 1200, "currency": "EUR"}, fetched.payload

attempts = []
for _ in range(200):
    attempts = svix.message_attempt.list_by_endpoint(app.id, endpoint.id).data
    if attempts:
        break
    time.sleep(0.05)
assert attempts, "no attempt was listed"
assert attempts[0].response_status_code == 200, attempts[0]
by_class = lambda code_class: svix.message_attempt.list_by_endpoint(
    app.id, endpoint.id, MessageAttemptListByEndpointOptions(status_code_class=code_class)
).data
assert [a.id for a in by_class(StatusCodeClass.CODE2XX)] == [attempts[0].id]
assert by_class(StatusCodeClass.CODE5XX) == []

# Where the message went, seen from the message and from the endpoint.
destinations = svix.message_attempt.list_attempted_destinations(app.id, message.id).data
assert [d.id for d in destinations] == [endpoint.id], destinations
assert destinations[0].status == MessageStatus.SUCCESS, destinations[0]
assert destinations[0].next_attempt is None, destinations[0]
assert destinations[0].url == endpoint_url, destinations[0]
sent = svix.message_attempt.list_attempted_messages(app.id, endpoint.id).data
assert [m.id for m in sent] == [message.id], sent
assert sent[0].status == MessageStatus.SUCCESS and sent[0].payload == {}, sent[0]
with_content = MessageAttemptListAttemptedMessagesOptions(with_content=True)
sent = svix.message_attempt.list_attempted_messages(app.id, endpoint.id, with_content).data
assert sent[0].payload == {"amount": 1200, "currency": "EUR"}, sent[0]
failed_only = MessageAttemptListAttemptedMessagesOptions(status=MessageStatus.FAIL)
assert svix.message_attempt.list_attempted_messages(app.id, endpoint.id, failed_only).data == []

# An endpoint made after the message gets it by replay-missing, once.
late = svix.endpoint.create(app.id, EndpointIn(url=endpoint_url + "-late", event_types=["invoice.paid"]))
since = datetime.now(timezone.utc) - timedelta(hours=1)
replay = svix.endpoint.replay_missing(app.id, late.id, ReplayIn(since=since))
assert replay.task == "endpoint.replay", replay
for _ in range(200):
    destinations = svix.message_attempt.list_attempted_destinations(app.id, message.id).data
    if len(destinations) == 2 and all(d.status == MessageStatus.SUCCESS for d in destinations):
        break
    time.sleep(0.05)
assert sorted(d.id for d in destinations) == sorted([endpoint.id, late.id]), destinations
destinations = [d for d in destinations if d.id == endpoint.id]

# A ping to the first endpoint alone.
ping = svix.endpoint.send_example(app.id, endpoint.id, EventExampleIn(event_type="svix.ping"))
assert ping.payload == {"success": True}, ping

# One attempt's content expunged, as when an endpoint answered with a secret.
svix.message_attempt.expunge_content(app.id, message.id, attempts[0].id)
attempt = svix.message_attempt.get(app.id, message.id, attempts[0].id)
assert attempt.response == "EXPUNGED", attempt.response

endpoints = svix.endpoint.list(app.id).data
assert [e.id for e in endpoints] == [endpoint.id, late.id], endpoints
stats = svix.endpoint.get_stats(app.id, endpoint.id)
apps = svix.application.list().data
assert any(a.id == app.id for a in apps)

# Expunge, as the SDK calls it: the payload then reads as Svix shows an expired one, and
# a resend is refused with Svix's error code.
svix.message.expunge_content(app.id, message.id)
expunged = svix.message.get(app.id, message.id)
assert expunged.payload == {"expired": True}, expunged.payload
try:
    svix.message_attempt.resend(app.id, message.id, endpoint.id)
    raise AssertionError("a resend of an expunged message was accepted")
except HttpError as error:
    assert (error.status_code, error.code) == (400, "missing_payload"), (error.status_code, error.code)

print(json.dumps({
    "app_id": app.id,
    "app_again_id": again.id,
    "endpoint_id": endpoint.id,
    "msg_id": message.id,
    "secret": secret.key,
    "attempts": len(attempts),
    "destinations": [d.id for d in destinations],
    "late_endpoint_id": late.id,
    "ping_id": ping.id,
    "attempt_response": attempt.response,
    "success": stats.success,
    "expunged": expunged.payload == {"expired": True},
}))
