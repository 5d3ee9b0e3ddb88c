"""A JIRA REST API v2 stand-in on loopback, so the real ``jira`` client is tested unchanged.

The JIRA adapter needs JIRA's documented request and response shapes, its error bodies, its
webhooks and its bad days (429, 503, dropped connections) without a JIRA site. State lives in
memory behind a real ``ThreadingHTTPServer``; nothing in the adapter or the client is mocked.
Changes made "from the JIRA side" (a human in the browser) go through the same code as REST
calls and emit the same webhooks.

``JiraStandin`` is built in layers, one module each, every layer a class the next extends:
``base`` (state, lookups) <- ``render``, ``webhooks``, ``fields`` <- ``state`` (operations),
``jql`` <- ``rest_meta``, ``rest_issues`` <- ``http`` <- ``server`` (``JiraStandin``).
"""

from tests.jira.standin.accounts import ALICE, BOT, Account
from tests.jira.standin.base import NOT_FOUND
from tests.jira.standin.records import (
    Delivery,
    JiraApiError,
    RecordedRequest,
    Subscription,
    WebhookEvent,
    canonical_path,
    epoch_ms,
    jira_time,
)
from tests.jira.standin.server import JiraStandin
from tests.jira.standin.webhooks import ReceivedWebhook, WebhookSink, sign
from tests.jira.standin.workflow import (
    ISSUE_TYPE_IDS,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    TRANSITIONS,
    Status,
    Transition,
)

__all__ = [
    "ALICE",
    "BOT",
    "ISSUE_TYPE_IDS",
    "LINK_TYPES",
    "NOT_FOUND",
    "PRIORITIES",
    "RESOLUTIONS",
    "STATUSES",
    "TRANSITIONS",
    "Account",
    "Delivery",
    "JiraApiError",
    "JiraStandin",
    "ReceivedWebhook",
    "RecordedRequest",
    "Status",
    "Subscription",
    "Transition",
    "WebhookEvent",
    "WebhookSink",
    "canonical_path",
    "epoch_ms",
    "jira_time",
    "sign",
]
