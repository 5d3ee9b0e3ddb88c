"""The real ``jira`` client (3.10) works unchanged against the stand-in, Cloud and Server.

These pin what the adapter's tests rely on: the documented shapes, JIRA's errors, the client's
own retries, and webhooks with JIRA's payloads and signature.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest
import requests
from jira import JIRA, JIRAError

from opsledger import FixedClock
from tests.conftest import T0
from tests.jira.conftest import MakeJiraStandin
from tests.jira.standin import ALICE, BOT, JiraStandin, WebhookSink, epoch_ms, jira_time


def cloud_client(standin: JiraStandin, **options: object) -> JIRA:
    return JIRA(server=standin.url, basic_auth=(BOT.email, BOT.api_token or ""), **options)  # type: ignore[arg-type]


def server_client(standin: JiraStandin, **options: object) -> JIRA:
    return JIRA(server=standin.url, token_auth=BOT.pat, **options)  # type: ignore[arg-type]


# -- connecting --------------------------------------------------------------------------------


def test_cloud_client_connects_with_email_and_api_token(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    assert client.deploymentType == "Cloud"
    assert client.server_info()["versionNumbers"] == [1001, 0, 0]
    me = client.myself()
    assert me["accountId"] == BOT.account_id
    assert "name" not in me
    # JIRA(...) itself asks for serverInfo exactly once
    assert jira_standin.count("GET", "serverInfo") == 2


def test_server_client_connects_with_a_personal_access_token(
    jira_server_standin: JiraStandin,
) -> None:
    client = server_client(jira_server_standin)
    assert client.deploymentType == "Server"
    me = client.myself()
    assert (me["name"], me["key"]) == (BOT.name, BOT.key)
    assert "accountId" not in me


def test_wrong_credentials_get_401_with_jiras_error_body(jira_standin: JiraStandin) -> None:
    with pytest.raises(JIRAError) as caught:
        JIRA(server=jira_standin.url, basic_auth=(BOT.email, "not-the-token"))
    assert caught.value.status_code == 401
    anonymous = requests.get(f"{jira_standin.api}/myself", timeout=5)
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"errorMessages", "errors"}


# -- issues ------------------------------------------------------------------------------------


def test_create_issue_by_project_key_and_type_name_reads_it_back(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(
        project="PROJ",
        summary="Database disk full",
        issuetype="Bug",
        priority={"name": "High"},
        labels=["opsledger:INC-000001"],
        customfield_10100="INC-000001",
    )
    assert issue.key == "PROJ-1"
    f = issue.fields
    assert (f.summary, f.status.name, f.priority.name, f.issuetype.name) == (
        "Database disk full",
        "To Do",
        "High",
        "Bug",
    )
    assert f.labels == ["opsledger:INC-000001"]
    assert f.customfield_10100 == "INC-000001"
    assert f.resolution is None
    assert f.created == jira_time(T0) == "2024-03-04T09:00:00.000+0000"
    assert f.reporter.accountId == BOT.account_id
    # the client looked the project up, then its issue types, posted, and read the issue back
    assert jira_standin.count("GET", "project/PROJ") == 1
    assert jira_standin.count("GET", "project/10000") == 1
    assert jira_standin.count("POST", "issue") == 1
    assert jira_standin.count("GET", "issue/PROJ-1") == 1


def test_create_without_summary_is_400_naming_each_bad_field(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    with pytest.raises(JIRAError) as caught:
        client.create_issue(project="PROJ", issuetype="Task", labels=["two words"], color="red")
    assert caught.value.status_code == 400
    errors = caught.value.response.json()["errors"]
    assert set(errors) == {"summary", "labels", "color"}
    assert jira_standin.keys() == []  # no key is used up by a rejected create


def test_unknown_issue_is_404_with_jiras_error_body(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    with pytest.raises(JIRAError) as caught:
        client.issue("PROJ-404")
    assert caught.value.status_code == 404
    assert caught.value.response.json() == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }


def test_edit_changes_fields_and_writes_the_changelog(
    jira_standin: JiraStandin, clock: FixedClock
) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Slow", issuetype="Task")
    clock.advance(timedelta(minutes=5))
    issue.update(summary="Slow checkout", priority={"name": "Highest"})
    issue.update(update={"labels": [{"add": "opsledger:PRB-000002"}]})
    again = client.issue(issue.key, expand="changelog")
    assert (again.fields.summary, again.fields.priority.name) == ("Slow checkout", "Highest")
    assert again.fields.labels == ["opsledger:PRB-000002"]
    assert again.fields.updated == "2024-03-04T09:05:00.000+0000"  # T0 + 5 min
    first = again.raw["changelog"]["histories"][0]
    assert first["author"]["accountId"] == BOT.account_id
    assert [(i["field"], i["fromString"], i["toString"]) for i in first["items"]] == [
        ("summary", "Slow", "Slow checkout"),
        ("priority", "Medium", "Highest"),
    ]


def test_assign_issue_by_account_id(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Who owns this", issuetype="Task")
    client.assign_issue(issue, ALICE.account_id)
    assert client.issue(issue.key).fields.assignee.accountId == ALICE.account_id


# -- transitions -------------------------------------------------------------------------------


def test_transition_by_name_posts_its_id_and_resolves_on_done(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Fix it", issuetype="Bug")
    offered = {t["name"]: t["to"]["name"] for t in client.transitions(issue)}
    assert offered == {
        "Start Progress": "In Progress",
        "Wait for customer": "Waiting for customer",
        "Done": "Done",
    }
    client.transition_issue(issue, "Start Progress")
    client.transition_issue(issue, "done")  # the client matches names case-insensitively
    posted = [r for r in jira_standin.log if r.method == "POST" and r.path.endswith("/transitions")]
    assert [(r.body["transition"]["id"], r.status) for r in posted] == [("21", 204), ("41", 204)]
    done = client.issue(issue.key).fields
    assert (done.status.name, done.status.statusCategory.key) == ("Done", "done")
    assert done.resolution.name == "Done"
    client.transition_issue(issue, "Reopen")
    reopened = client.issue(issue.key).fields
    assert (reopened.status.name, reopened.resolution) == ("To Do", None)


def test_transition_fields_set_the_resolution_and_unavailable_ids_are_400(
    jira_standin: JiraStandin,
) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Known error", issuetype="Bug")
    with pytest.raises(JIRAError) as caught:
        client.transition_issue(issue, "51")  # Reopen is only offered from Done
    assert caught.value.status_code == 400
    client.transition_issue(issue, "Done", fields={"resolution": {"name": "Fixed"}})
    assert client.issue(issue.key).fields.resolution.name == "Fixed"


# -- comments and links ------------------------------------------------------------------------


def test_comments_are_added_listed_and_edited(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Chatty", issuetype="Task")
    comment = client.add_comment(issue, "Looking into it")
    assert (comment.body, comment.author.accountId) == ("Looking into it", BOT.account_id)
    comment.update(body="Looking into it (db1)")
    assert [c.body for c in client.comments(issue)] == ["Looking into it (db1)"]
    assert client.comment(issue.key, comment.id).body == "Looking into it (db1)"
    with pytest.raises(JIRAError) as caught:
        client.add_comment(issue, "   ")
    assert caught.value.response.json()["errors"] == {"comment": "Comment body can not be empty!"}


def test_issue_links_and_remote_links_are_kept(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    problem = client.create_issue(project="PROJ", summary="Root cause", issuetype="Bug")
    task = client.create_issue(project="PROJ", summary="Follow-up", issuetype="Task")
    client.create_issue_link("Blocks", problem.key, task.key)
    links = client.issue(problem.key).fields.issuelinks
    assert [(link.type.name, link.outwardIssue.key) for link in links] == [("Blocks", task.key)]
    client.add_simple_link(problem.key, {"url": "https://ops.example/PRB-000001", "title": "PRB-1"})
    assert [r.object.url for r in client.remote_links(problem)] == [
        "https://ops.example/PRB-000001"
    ]


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_search_answers_the_jql_the_adapter_sends(
    make_jira_standin: MakeJiraStandin, clock: FixedClock, deployment: str
) -> None:
    standin = make_jira_standin(deployment=deployment)
    client = cloud_client(standin) if deployment == "Cloud" else server_client(standin)
    for n in (1, 2, 3):
        clock.advance(timedelta(minutes=10))
        client.create_issue(
            project="PROJ",
            summary=f"Issue {n}",
            issuetype="Task",
            labels=[f"opsledger:INC-00000{n}"],
            customfield_10100=f"INC-00000{n}",
        )

    def keys(jql: str) -> list[str]:
        return [i.key for i in client.search_issues(jql)]

    assert keys("key in (PROJ-1, PROJ-3) ORDER BY key ASC") == ["PROJ-1", "PROJ-3"]
    assert keys("project = PROJ") == ["PROJ-3", "PROJ-2", "PROJ-1"]  # newest first by default
    assert keys('labels = "opsledger:INC-000002"') == ["PROJ-2"]
    assert keys('"opsledger ticket" ~ "INC-000003"') == ["PROJ-3"]
    # issues were created at T0+10, +20 and +30 minutes
    assert keys('project = PROJ AND cf[10100] ~ "INC*" AND updated >= "2024-03-04 09:20"') == [
        "PROJ-3",
        "PROJ-2",
    ]
    assert keys("updated >= -15m ORDER BY created ASC") == ["PROJ-2", "PROJ-3"]  # now is T0+30


def test_search_rejects_what_jira_rejects(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    client.create_issue(project="PROJ", summary="Only one", issuetype="Task")
    for jql in ('"opsledger ticket" = "INC-000001"', "key in (PROJ-1, PROJ-9)", "colour = red"):
        with pytest.raises(JIRAError) as caught:
            client.search_issues(jql)
        assert caught.value.status_code == 400, jql


# -- faults ------------------------------------------------------------------------------------


def test_client_retries_429_itself_honouring_retry_after(jira_standin: JiraStandin) -> None:
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Busy", issuetype="Task")
    jira_standin.fail_next(1, status=429, retry_after=1, method="GET", path=f"issue/{issue.key}")
    started = time.monotonic()
    assert client.issue(issue.key).key == issue.key
    # the client waits 2 * max(Retry-After, 1) * uniform(0.5, 1) seconds: 1 to 2 s here
    assert time.monotonic() - started >= 0.9
    assert jira_standin.count("GET", f"issue/{issue.key}") == 3  # prefetch, 429, retry


def test_client_retries_503_with_retry_after_but_leaves_500_to_the_caller(
    jira_standin: JiraStandin,
) -> None:
    client = cloud_client(jira_standin)
    jira_standin.fail_next(1, status=503, retry_after=1, path="serverInfo")
    client.server_info()
    assert jira_standin.count("GET", "serverInfo") == 3  # connect, 503, retry
    jira_standin.fail_next(1, status=500, path="serverInfo")
    with pytest.raises(JIRAError) as caught:
        client.server_info()
    assert caught.value.status_code == 500
    assert jira_standin.count("GET", "serverInfo") == 4


def test_dropped_connection_before_or_after_the_change_is_applied(
    jira_standin: JiraStandin,
) -> None:
    client = cloud_client(jira_standin, max_retries=0)  # the client would wait 10-20 s itself
    jira_standin.fail_next(1, drop_connection=True, method="POST", path="issue")
    with pytest.raises(requests.ConnectionError):
        client.create_issue(project="PROJ", summary="Lost request", issuetype="Task")
    assert jira_standin.keys() == []
    jira_standin.fail_next(1, drop_connection=True, method="POST", path="issue", after_apply=True)
    with pytest.raises(requests.ConnectionError):
        client.create_issue(project="PROJ", summary="Lost answer", issuetype="Task")
    assert jira_standin.keys() == ["PROJ-1"]


def test_an_outage_fails_every_request_until_cleared(jira_standin: JiraStandin) -> None:
    auth = (BOT.email, BOT.api_token or "")
    jira_standin.fail_next(None, status=503)
    statuses = [requests.get(f"{jira_standin.api}/myself", auth=auth, timeout=5).status_code]
    statuses.append(requests.get(f"{jira_standin.api}/priority", auth=auth, timeout=5).status_code)
    jira_standin.clear_faults()
    statuses.append(requests.get(f"{jira_standin.api}/myself", auth=auth, timeout=5).status_code)
    assert statuses == [503, 503, 200]


# -- webhooks ----------------------------------------------------------------------------------


def test_webhooks_arrive_in_cloud_shape_signed_with_the_secret(
    jira_standin: JiraStandin, webhook_sink: WebhookSink
) -> None:
    jira_standin.subscribe(webhook_sink.url, secret="s3cret")
    client = cloud_client(jira_standin)
    issue = client.create_issue(project="PROJ", summary="Hooked", issuetype="Bug")
    client.transition_issue(issue, "Done")
    client.add_comment(issue, "Fixed in 1.2.3")
    jira_standin.wait_for_webhooks()
    got = webhook_sink.received
    assert [r.payload["webhookEvent"] for r in got] == [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_updated",
        "comment_created",
    ]
    for r in got:
        digest = hmac.new(b"s3cret", r.body, hashlib.sha256).hexdigest()
        assert r.headers["X-Hub-Signature"] == f"sha256={digest}"
        assert r.payload["timestamp"] == epoch_ms(T0) == 1709542800000
    created, moved, commented, comment = (r.payload for r in got)
    assert created["user"]["accountId"] == BOT.account_id
    assert created["issue"]["key"] == issue.key
    assert moved["issue_event_type_name"] == "issue_generic"
    items = moved["changelog"]["items"]
    assert [(i["fieldId"], i["fromString"], i["toString"]) for i in items] == [
        ("status", "To Do", "Done"),
        ("resolution", None, "Done"),
    ]
    assert commented["issue_event_type_name"] == "issue_commented"
    assert comment["comment"]["author"]["accountId"] == BOT.account_id
    assert comment["comment"]["body"] == "Fixed in 1.2.3"


def test_a_human_edit_on_the_jira_side_carries_that_user(
    jira_server_standin: JiraStandin, webhook_sink: WebhookSink
) -> None:
    standin = jira_server_standin
    standin.subscribe(webhook_sink.url, events=["jira:issue_updated"])
    key = standin.create_issue("PROJ", "Raised by a developer", "Bug")
    with standin.act_as(ALICE):
        standin.transition(key, "In Progress")  # by target status name
    standin.edit(key, {"priority": "Low"}, as_user=BOT)
    standin.wait_for_webhooks()
    first, second = (r.payload for r in webhook_sink.received)
    assert (first["user"]["name"], first["user"]["key"]) == (ALICE.name, ALICE.key)
    assert "accountId" not in first["user"]
    assert first["changelog"]["items"][0]["toString"] == "In Progress"
    assert "fieldId" not in first["changelog"]["items"][0]  # Server's changelog has none
    assert second["user"]["name"] == BOT.name
    assert "matchedWebhookIds" not in first


def test_sync_delivery_posts_before_the_change_returns(
    make_jira_standin: MakeJiraStandin, webhook_sink: WebhookSink
) -> None:
    standin = make_jira_standin(webhook_delivery="sync")
    standin.subscribe(webhook_sink.url)
    key = standin.create_issue("PROJ", "Now", "Task")
    standin.delete_issue(key)
    assert webhook_sink.events() == ["jira:issue_created", "jira:issue_deleted"]
    assert [e.name for e in standin.emitted] == webhook_sink.events()
    assert standin.deliveries[-1].status == 200
    with pytest.raises(JIRAError) as caught:
        cloud_client(standin).issue(key)
    assert caught.value.status_code == 404
