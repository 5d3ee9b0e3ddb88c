"""JIRA webhook parsing: every fixture worked out by hand, and each malformed field named.

Fixtures and where their shapes come from: tests/jira/fixtures/README.md. Instants: epoch
milliseconds from 2024-03-04T00:00:00Z = 1_709_510_400_000 (2024-01-01 is 1_704_067_200 s,
plus 31 + 29 + 3 days of 86_400 s).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.http.errors import ApiError
from opsledger.adapters.jira.webhooks import (
    WEBHOOK_EVENTS,
    FieldChange,
    JiraUser,
    JiraWebhook,
    change_of,
    custom_field,
    parse_user,
    parse_webhook,
)
from opsledger.adapters.monitoring.auth import SIGNATURE_HEADER, check_signature, sign
from opsledger.adapters.monitoring.settings import SourceAuth

from opsledger import InputError

FIXTURES = Path(__file__).parent / "fixtures"
ALICE = JiraUser("712020:8c5b7d31-6a41-4f0e-9d3e-2b7f1c0a9e44", "Alice Moreau")
BOT = JiraUser("712020:0f4e2c9a-1b3d-4e5f-8a7b-6c5d4e3f2a10", "opsledger bot")
JDOE = JiraUser("jdoe", "Jane Doe")  # Server: the user key (equal to the name for old users)
SERVER_BOT = JiraUser("JIRAUSER10200", "opsledger bot")  # Server 8+: key differs from name


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parsed(name: str) -> JiraWebhook:
    return parse_webhook(fixture(name))


def utc(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# -- each fixture, by hand ---------------------------------------------------------------------

# A comment's delivery id ends in the first 12 hex digits of the SHA-256 of its body (computed
# once with hashlib, see test_two_edits_in_one_millisecond_are_two_deliveries).

#: name: (event, timestamp, user, status, priority, resolution, changelog_id, delivery_id)
Expected = tuple[str, datetime, JiraUser | None, str, str, str | None, str | None, str]
EXPECTED: dict[str, Expected] = {
    # 1_709_546_280_000 ms - 1_709_510_400_000 = 35_880 s = 09:58:00
    "cloud_issue_created": (
        "jira:issue_created", utc(2024, 3, 4, 9, 58), BOT, "To Do", "Medium", None, "10500",
        "jira:issue_created:10017:changelog=10500",
    ),
    # 1_709_546_712_345 - 1_709_510_400_000 = 36_312.345 s = 10:05:12.345
    "cloud_issue_updated_status": (
        "jira:issue_updated", utc(2024, 3, 4, 10, 5, 12, 345_000), ALICE, "In Progress", "Medium",
        None, "10501", "jira:issue_updated:10017:changelog=10501",
    ),
    "cloud_issue_updated_priority": (  # 36_360 s = 10:06:00
        "jira:issue_updated", utc(2024, 3, 4, 10, 6), ALICE, "In Progress", "High", None, "10502",
        "jira:issue_updated:10017:changelog=10502",
    ),
    "cloud_issue_updated_summary": (  # 36_450.25 s = 10:07:30.250
        "jira:issue_updated", utc(2024, 3, 4, 10, 7, 30, 250_000), ALICE, "In Progress", "High",
        None, "10503", "jira:issue_updated:10017:changelog=10503",
    ),
    "cloud_issue_updated_assignee": (  # 36_480 s = 10:08:00
        "jira:issue_updated", utc(2024, 3, 4, 10, 8), ALICE, "In Progress", "High", None, "10504",
        "jira:issue_updated:10017:changelog=10504",
    ),
    "cloud_issue_updated_custom_field": (  # 36_540 s = 10:09:00
        "jira:issue_updated", utc(2024, 3, 4, 10, 9), ALICE, "In Progress", "High", None, "10505",
        "jira:issue_updated:10017:changelog=10505",
    ),
    "cloud_issue_updated_resolved": (  # 41_400 s = 11:30:00
        "jira:issue_updated", utc(2024, 3, 4, 11, 30), ALICE, "Done", "High", "Done", "10507",
        "jira:issue_updated:10017:changelog=10507",
    ),
    # Cloud comment events carry no top-level user: the comment's editor acted
    "cloud_comment_created": (  # 36_900 s = 10:15:00; comment updated 11:15+0100 = same ms
        "comment_created", utc(2024, 3, 4, 10, 15), ALICE, "In Progress", "High", None, None,
        "comment_created:10017:comment=10130@1709547300000#cf92d1b79f69",
    ),
    "cloud_comment_updated": (  # 37_200 s = 10:20:00; comment updated 11:20+0100 = 10:20Z
        "comment_updated", utc(2024, 3, 4, 10, 20), ALICE, "In Progress", "High", None, None,
        "comment_updated:10017:comment=10130@1709547600000#5ad01632cb40",
    ),
    "cloud_issue_deleted": (  # 43_200 s = 12:00:00; no changelog, no comment: the instant
        "jira:issue_deleted", utc(2024, 3, 4, 12), ALICE, "Done", "High", "Done", None,
        "jira:issue_deleted:10017:at=1709553600000",
    ),
    # 2024-03-05T00:00Z = 1_709_596_800_000; 1_709_625_600_000 is 28_800 s later = 08:00:00
    "server_issue_created": (
        "jira:issue_created", utc(2024, 3, 5, 8), SERVER_BOT, "Open", "Major", None, None,
        "jira:issue_created:20311:at=1709625600000",
    ),
    "server_issue_updated_status": (  # 33_120.5 s = 09:12:00.500
        "jira:issue_updated", utc(2024, 3, 5, 9, 12, 0, 500_000), JDOE, "In Progress", "Major",
        None, "73105", "jira:issue_updated:20311:changelog=73105",
    ),
    "server_issue_updated_commented": (  # 34_200 s = 09:30:00; comment 10:30+0100 = same ms
        "jira:issue_updated", utc(2024, 3, 5, 9, 30), JDOE, "In Progress", "Major", None, None,
        "jira:issue_updated:20311:comment=40112@1709631000000#486eb445fd66/issue_commented",
    ),
    "server_issue_deleted": (  # 50_400 s = 14:00:00
        "jira:issue_deleted", utc(2024, 3, 5, 14), JDOE, "In Progress", "Major", None, None,
        "jira:issue_deleted:20311:at=1709647200000",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_hand_checked_values(name: str) -> None:
    event, timestamp, user, status, priority, resolution, changelog_id, delivery = EXPECTED[name]
    hook = parsed(name)
    assert (hook.event, hook.timestamp, hook.user) == (event, timestamp, user)
    assert (hook.status, hook.priority, hook.resolution) == (status, priority, resolution)
    assert (hook.changelog_id, hook.delivery_id) == (changelog_id, delivery)
    assert hook.timestamp.tzinfo is UTC
    cloud = name.startswith("cloud_")
    assert (hook.issue_key, hook.issue_id) == (
        ("OPS-17", "10017") if cloud else ("DEV-311", "20311")
    )
    assert hook.project == ("OPS" if cloud else "DEV")
    assert hook.issue_type == "Bug"


def test_every_fixture_is_a_distinct_delivery() -> None:
    ids = [parsed(name).delivery_id for name in EXPECTED]
    assert len(set(ids)) == len(ids)


def test_issue_created_reads_summary_labels_and_custom_fields() -> None:
    hook = parsed("cloud_issue_created")
    assert hook.summary == "Checkout latency"
    assert hook.labels == ("opsledger", "PRB0001042")
    assert custom_field(hook, "customfield_10042") == "PRB0001042"  # text field: as sent
    assert custom_field(hook, "customfield_10050") == "Sev 2"  # select: the option's value
    assert custom_field(hook, "customfield_10051") == ["payments", "checkout"]  # multi-select
    assert custom_field(hook, "customfield_10020") is None  # sent as null
    assert custom_field(hook, "customfield_99999") is None  # not sent at all
    assert hook.event_type == "issue_created" and hook.comment is None


SUMMARY = ("Checkout latency", "Checkout p99 latency above 2 s")
CHANGES = {
    "cloud_issue_updated_status": FieldChange(
        "status", "status", "10000", "To Do", "3", "In Progress"
    ),
    "cloud_issue_updated_priority": FieldChange("priority", "priority", "3", "Medium", "2", "High"),
    "cloud_issue_updated_summary": FieldChange(
        "summary", "summary", None, SUMMARY[0], None, SUMMARY[1]
    ),
    "cloud_issue_updated_assignee": FieldChange(
        "assignee", "assignee", None, None, ALICE.account, "Alice Moreau"
    ),
    "cloud_issue_updated_custom_field": FieldChange(
        "Severity", "customfield_10050", "10201", "Sev 2", "10200", "Sev 1"
    ),
}


@pytest.mark.parametrize(("name", "change"), sorted(CHANGES.items()))
def test_issue_updated_carries_its_changelog_item(name: str, change: FieldChange) -> None:
    assert parsed(name).changes == (change,)


def test_resolving_sets_resolution_and_status_in_one_changelog() -> None:
    hook = parsed("cloud_issue_updated_resolved")
    assert hook.changes == (
        FieldChange("resolution", "resolution", None, None, "10000", "Done"),
        FieldChange("status", "status", "3", "In Progress", "10002", "Done"),
    )
    assert change_of(hook, "resolution") == hook.changes[0]


def test_change_of_matches_the_field_id_or_the_name_in_any_case() -> None:
    created = parsed("cloud_issue_created")  # this changelog says "Status", fieldId "status"
    assert change_of(created, "status") == FieldChange(
        "Status", "status", None, None, "10000", "To Do"
    )
    custom = parsed("cloud_issue_updated_custom_field")
    by_id, by_name = change_of(custom, "customfield_10050"), change_of(custom, "severity")
    assert by_id is not None and by_id == by_name
    assert change_of(custom, "priority") is None
    server = parsed("server_issue_updated_status")  # Server sends no fieldId
    assert [c.field_id for c in server.changes] == [None, None]
    assert change_of(server, "assignee") == FieldChange(
        "assignee", None, None, None, "jdoe", "Jane Doe"
    )


def test_custom_field_change_keeps_the_new_option_in_fields() -> None:
    assert custom_field(parsed("cloud_issue_updated_custom_field"), "customfield_10050") == "Sev 1"


def test_cloud_comment_is_read_with_its_offset_times_in_utc() -> None:
    comment = parsed("cloud_comment_updated").comment
    assert comment is not None
    assert comment.id == "10130"
    assert comment.body.startswith("Root cause: *connection pool* exhausted on {{db-1}}.\n")
    assert comment.body.endswith("\u00e9quipe paiements\nPool size raised to 50.")
    # "2024-03-04T11:15:00.000+0100" (no colon in the offset) is 10:15 UTC
    assert (comment.created, comment.updated) == (utc(2024, 3, 4, 10, 15), utc(2024, 3, 4, 10, 20))
    assert (comment.author, comment.update_author, comment.public) == (ALICE, ALICE, True)
    assert comment.visibility is None


def test_server_comment_inside_issue_updated_is_the_comment_of_the_delivery() -> None:
    hook = parsed("server_issue_updated_commented")
    assert hook.event_type == "issue_commented" and hook.changes == ()
    assert hook.comment is not None
    assert (hook.comment.id, hook.comment.author, hook.comment.public) == ("40112", JDOE, None)
    assert hook.comment.body == "Reproduced on staging: the export holds a lock for 40 min."
    assert hook.comment.created == utc(2024, 3, 5, 9, 30)  # 10:30+0100


def test_server_comment_event_without_the_issue_is_refused_naming_issue() -> None:
    with pytest.raises(InputError) as caught:
        parse_webhook(fixture("server_comment_created_no_issue"))
    assert caught.value.field == "issue"
    assert "Server" in caught.value.message


def test_deleted_comment_is_not_a_duplicate_of_the_commented_delivery() -> None:
    # Server reports the same comment version as "commented" and, later, "comment deleted"
    deleted = fixture("server_issue_updated_commented")
    deleted["issue_event_type_name"] = "issue_comment_deleted"
    deleted["timestamp"] += 60_000
    commented = parsed("server_issue_updated_commented")
    assert parse_webhook(deleted).delivery_id != commented.delivery_id


# -- edge cases the sync depends on ------------------------------------------------------------


def test_two_edits_in_one_millisecond_are_two_deliveries() -> None:
    first, second = fixture("cloud_comment_updated"), fixture("cloud_comment_updated")
    second["comment"]["body"] = "Pool size raised to 80."
    ids = parse_webhook(first).delivery_id, parse_webhook(second).delivery_id
    assert ids[0] != ids[1]
    digest = hashlib.sha256(first["comment"]["body"].encode("utf-8")).hexdigest()[:12]
    assert ids[0] == f"comment_updated:10017:comment=10130@1709547600000#{digest}"


def test_timestamp_as_numeric_text_is_the_same_instant() -> None:
    body = fixture("cloud_issue_updated_status")
    body["timestamp"] = "1709546712345"
    assert parse_webhook(body) == parsed("cloud_issue_updated_status")


def test_a_retried_delivery_has_the_same_delivery_id() -> None:
    first, retry = fixture("cloud_issue_deleted"), fixture("cloud_issue_deleted")
    retry["timestamp"] = str(retry["timestamp"])
    assert parse_webhook(first).delivery_id == parse_webhook(retry).delivery_id


def test_update_without_user_has_no_actor() -> None:
    body = fixture("cloud_issue_updated_status")  # as an automation or a system job sends it
    del body["user"]
    assert parse_webhook(body).user is None
    body["user"] = None
    assert parse_webhook(body).user is None


def test_update_without_changelog_has_no_changes_and_is_told_apart_by_its_instant() -> None:
    body = fixture("cloud_issue_updated_priority")
    del body["changelog"]
    hook = parse_webhook(body)
    assert (hook.changes, hook.changelog_id) == ((), None)
    assert hook.delivery_id == "jira:issue_updated:10017:at=1709546760000"


def test_comment_deleted_without_user_does_not_blame_the_comment_author() -> None:
    body = fixture("cloud_comment_created")
    body["webhookEvent"] = "comment_deleted"
    assert parse_webhook(body).user is None


def test_server_user_is_its_key_and_cloud_user_its_account_id() -> None:
    # what /rest/api/2/myself answers, so the adapter knows its own account by the same rule
    server = {"self": "x", "key": "JIRAUSER10200", "name": "opsledger-bot", "displayName": "bot"}
    cloud = {"accountId": "712020:0f4e", "name": "legacy", "key": "legacy", "displayName": "bot"}
    assert parse_user(server) == JiraUser("JIRAUSER10200", "bot")
    assert parse_user(cloud) == JiraUser("712020:0f4e", "bot")
    assert parse_user({"name": "jdoe"}) == JiraUser("jdoe", "jdoe")  # no displayName: the account


def test_unknown_keys_at_every_level_are_accepted() -> None:
    body = fixture("cloud_comment_updated")
    body["webhookEventVersion"] = {"major": 3}
    body["issue"]["renderedFields"] = {}
    body["issue"]["fields"]["statusCategory"] = [1, 2]
    body["comment"]["properties"] = [{"key": "sd.public.comment", "value": {"internal": False}}]
    body["comment"]["author"]["newKey"] = None
    hook = parse_webhook(body)
    assert hook.comment == parsed("cloud_comment_updated").comment
    assert hook.fields["statusCategory"] == [1, 2]


def test_atlassian_document_body_is_flattened_to_lines() -> None:
    body = fixture("cloud_comment_created")
    body["comment"]["body"] = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Pool "},
                {"type": "text", "text": "exhausted", "marks": [{"type": "strong"}]},
                {"type": "hardBreak"},
                {"type": "mention", "attrs": {"id": "712020:0f4e", "text": "@opsledger bot"}},
            ]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Second line"}]},
        ],
    }  # fmt: skip
    comment = parse_webhook(body).comment
    assert comment is not None and comment.body == "Pool exhausted\n@opsledger bot\nSecond line"


def test_restricted_comment_names_its_visibility() -> None:
    body = fixture("cloud_comment_created")
    body["comment"]["visibility"] = {"type": "role", "value": "Developers"}
    comment = parse_webhook(body).comment
    assert comment is not None and comment.visibility == "role:Developers"


def test_parsed_webhook_is_immutable_and_hashable() -> None:
    hook = parsed("cloud_issue_updated_custom_field")
    with pytest.raises(TypeError):
        hook.fields["summary"] = "changed"  # type: ignore[index]
    assert hash(hook) == hash(parsed("cloud_issue_updated_custom_field"))


def test_every_documented_event_parses() -> None:
    for event in WEBHOOK_EVENTS:
        body = fixture("cloud_comment_created")
        body["webhookEvent"] = event
        assert parse_webhook(body).event == event


# -- malformed payloads name the field ---------------------------------------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for step in parents:
            target = target[int(step)] if isinstance(target, list) else target[step]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if isinstance(target, list) else last] = value

    return apply


_DELETE = object()
STATUS = "cloud_issue_updated_status"
COMMENT = "cloud_comment_created"
SERVER = "server_issue_updated_commented"

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (STATUS, _set("webhookEvent", _DELETE), "webhookEvent"),
    (STATUS, _set("webhookEvent", "jira:issue_viewed"), "webhookEvent"),
    (STATUS, _set("webhookEvent", 7), "webhookEvent"),
    (STATUS, _set("timestamp", _DELETE), "timestamp"),
    (STATUS, _set("timestamp", "2024-03-04T10:05:12Z"), "timestamp"),
    (STATUS, _set("timestamp", 1709546712.345), "timestamp"),
    (STATUS, _set("timestamp", True), "timestamp"),
    (STATUS, _set("timestamp", -1), "timestamp"),
    (STATUS, _set("timestamp", 10**20), "timestamp"),
    (STATUS, _set("timestamp", "\u0661\u0667\u0660\u0669"), "timestamp"),  # Arabic-Indic digits
    (STATUS, _set("issue", _DELETE), "issue"),
    (STATUS, _set("issue", ["OPS-17"]), "issue"),
    (STATUS, _set("issue.key", _DELETE), "issue.key"),
    (STATUS, _set("issue.key", ""), "issue.key"),
    (STATUS, _set("issue.key", " OPS-17"), "issue.key"),
    (STATUS, _set("issue.key", "OPS-17\n"), "issue.key"),
    (STATUS, _set("issue.key", "O" * 256), "issue.key"),
    (STATUS, _set("issue.key", "OPS-\ud800"), "issue.key"),
    (STATUS, _set("issue.id", {"id": 1}), "issue.id"),
    (STATUS, _set("issue.id", 10**400), "issue.id"),
    (STATUS, _set("issue.fields", "none"), "issue.fields"),
    (STATUS, _set("issue.fields.status", "In Progress"), "issue.fields.status"),
    (STATUS, _set("issue.fields.status.name", 3), "issue.fields.status.name"),
    (STATUS, _set("issue.fields.priority", []), "issue.fields.priority"),
    (STATUS, _set("issue.fields.summary", ["a"]), "issue.fields.summary"),
    (STATUS, _set("issue.fields.labels", "opsledger"), "issue.fields.labels"),
    (STATUS, _set("issue.fields.labels.1", 5), "issue.fields.labels[1]"),
    (STATUS, _set("issue.fields.project.key", 10000), "issue.fields.project.key"),
    (STATUS, _set("issue_event_type_name", 1), "issue_event_type_name"),
    (STATUS, _set("user", "alice"), "user"),
    (STATUS, _set("user.accountId", _DELETE), "user.accountId"),
    (STATUS, _set("user.accountId", ""), "user.accountId"),
    (STATUS, _set("user.displayName", {"en": "Alice"}), "user.displayName"),
    (STATUS, _set("changelog", []), "changelog"),
    (STATUS, _set("changelog.id", False), "changelog.id"),
    (STATUS, _set("changelog.items", {}), "changelog.items"),
    (STATUS, _set("changelog.items.0", "status"), "changelog.items[0]"),
    (STATUS, _set("changelog.items.0.field", _DELETE), "changelog.items[0].field"),
    (STATUS, _set("changelog.items.0.fieldId", ""), "changelog.items[0].fieldId"),
    (STATUS, _set("changelog.items.0.from", ["10000"]), "changelog.items[0].from"),
    (STATUS, _set("changelog.items.0.toString", 3.5), "changelog.items[0].toString"),
    (COMMENT, _set("comment", _DELETE), "comment"),
    (COMMENT, _set("comment", "hello"), "comment"),
    (COMMENT, _set("comment.id", _DELETE), "comment.id"),
    (COMMENT, _set("comment.body", 42), "comment.body"),
    (COMMENT, _set("comment.body", {"type": "paragraph"}), "comment.body"),
    (COMMENT, _set("comment.body", {"type": "doc", "content": "text"}), "comment.body"),
    (COMMENT, _set("comment.created", "yesterday"), "comment.created"),
    (COMMENT, _set("comment.created", "2024-03-04T11:15:00.000"), "comment.created"),  # no zone
    (COMMENT, _set("comment.updated", "2" * 5_000), "comment.updated"),
    (COMMENT, _set("comment.updated", [2024]), "comment.updated"),
    (COMMENT, _set("comment.author", 1), "comment.author"),
    (COMMENT, _set("comment.updateAuthor.accountId", _DELETE), "comment.updateAuthor.accountId"),
    (COMMENT, _set("comment.jsdPublic", "yes"), "comment.jsdPublic"),
    (COMMENT, _set("comment.visibility", "role"), "comment.visibility"),
    (SERVER, _set("user.key", 0.5), "user.key"),
    (SERVER, _set("comment.author.key", ""), "comment.author.key"),
]


@pytest.mark.parametrize(("name", "change", "field"), MALFORMED)
def test_malformed_payload_names_the_field(
    name: str, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = copy.deepcopy(fixture(name))
    change(body)
    with pytest.raises(InputError) as caught:
        parse_webhook(body)
    assert caught.value.field == field


@pytest.mark.parametrize("payload", [None, [], "{}", 3, b"{}"])
def test_a_body_that_is_not_an_object_is_refused(payload: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_webhook(payload)
    assert caught.value.field == "body"


# -- authentication: JIRA's signature is the shared helper's format ----------------------------


def test_jira_hub_signature_is_checked_by_the_shared_hmac_helper() -> None:
    # JIRA Cloud admin webhooks with a secret send X-Hub-Signature: sha256=<hex of the body>,
    # the format of adapters/monitoring/auth.py under another header name
    raw = (FIXTURES / "cloud_issue_updated_status.json").read_bytes()
    auth = SourceAuth(hmac_secret="It's a Secret to Everybody")
    jira_headers = {"x-hub-signature": sign("It's a Secret to Everybody", raw)}
    check_signature(auth, {SIGNATURE_HEADER: jira_headers["x-hub-signature"]}, raw)
    with pytest.raises(ApiError, match="does not match"):
        check_signature(auth, {SIGNATURE_HEADER: jira_headers["x-hub-signature"]}, raw + b" ")
