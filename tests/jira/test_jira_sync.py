"""Two-way sync against the JIRA stand-in over real HTTP, with the real ``jira`` client.

opsledger serves its webhook route with uvicorn on loopback; the stand-in posts its webhooks
there. The sync thread is not started: each test drains the outbox itself, stepping the
shared FixedClock, so retries and a two-hour outage take no real time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opsledger.adapters.http.app import create_app, mount_adapters
from opsledger.adapters.jira.plugin import JiraAdapter
from opsledger.adapters.jira.reconcile import reconcile
from opsledger.adapters.jira.settings import JiraSettings
from opsledger.adapters.jira.sync import JiraSync
from opsledger.adapters.kafka.bus import LocalBus
from opsledger.core.commands import RecordSync
from opsledger.plugins import hookimpl
from opsledger.plugins.outbox import Outbox

from opsledger import Engine, FixedClock, InputError, Settings
from tests.dashboard.conftest import serve
from tests.jira.standin import ALICE, BOT, JiraStandin, epoch_ms
from tests.plugins.test_plugin_hooks import manager

M, H = timedelta(minutes=1), timedelta(hours=1)
SECRET = "hook-secret"
FIXTURES = Path(__file__).parent / "fixtures"


def jira_settings(url: str) -> JiraSettings:
    return JiraSettings.from_mapping(
        {
            "enabled": True,
            "sites": {
                "main": {
                    "url": url,
                    "deployment": "cloud",
                    "email": BOT.email,
                    "token": BOT.api_token,
                    "account": BOT.account_id,
                    "webhook_secret": SECRET,
                }
            },
            "rules": [
                {
                    "name": "problems",
                    "site": "main",
                    "kinds": ["problem"],
                    "project": "PROJ",
                    "issue_type": "Bug",
                    "comments_out": "public",
                    "comments_in": "work_note",
                },
            ],
            "base_delay_s": 30,
            "max_delay_s": 900,
        }
    )


class Reacting:
    """The plugin's event hook, wired to this test's sync object."""

    def __init__(self, sync: JiraSync) -> None:
        self.sync = sync

    @hookimpl
    def opsledger_event_recorded(self, event: Any, record: Any, context: Any) -> None:
        self.sync.react(event, record, context)


@dataclass
class Linked:
    engine: Engine
    sync: JiraSync
    settings: JiraSettings
    jira: JiraStandin
    clock: FixedClock
    base: str
    subscription: Any

    def drain(self) -> int:
        return self.sync.drain_once(LocalBus(self.engine), self.engine.plugins.context)

    def ticket(self, number: str) -> dict[str, Any]:
        return self.engine.get(number)

    def key(self, number: str) -> str:
        refs = [r["reference"] for r in self.ticket(number)["external_refs"]]
        assert refs, f"{number} has no JIRA issue"
        return str(refs[-1])

    def transitions_posted(self, key: str) -> int:
        return self.jira.count("POST", f"/rest/api/2/issue/{key}/transitions")


@pytest.fixture
def linked(tmp_path: Path, clock: FixedClock, jira_standin: JiraStandin) -> Iterator[Linked]:
    settings = jira_settings(jira_standin.url)
    sync = JiraSync(settings)
    engine = Engine(
        Settings(db_path=str(tmp_path / "events.db")),
        clock=clock,
        plugins=manager(Reacting(sync)),
    )
    app = create_app(engine)
    mount_adapters(app, [JiraAdapter(settings, sync)])
    with serve(app) as base:
        sub = jira_standin.subscribe(f"{base}/hooks/jira/main?secret={SECRET}")
        yield Linked(engine, sync, settings, jira_standin, clock, base, sub)
    engine.close()


def test_a_problem_syncs_out_and_a_transition_in_jira_resolves_it_without_echo(
    linked: Linked,
) -> None:
    number = linked.engine.open_problem(
        "Checkout times out", impact="high", urgency="medium"
    ).number
    assert linked.drain() == 1
    key = linked.key(number)
    issue = linked.jira.issue(key)["fields"]
    assert issue["summary"] == f"[{number}] Checkout times out"
    assert f"opsledger-{number}" in issue["labels"]
    assert issue["priority"]["name"] == "High"  # high x medium = P2 -> High
    linked.jira.wait_for_webhooks()  # our own create comes back: an echo, applied nowhere
    before = len(linked.engine.history(number))
    linked.clock.advance(10 * M)
    linked.jira.transition(key, "Done", as_user=ALICE)
    linked.jira.wait_for_webhooks()
    ticket = linked.ticket(number)
    assert ticket["state"] == "resolved"
    assert ticket["sync"]["jira"]["written"]["state"] == linked.clock.now().isoformat()
    # the resolution came from JIRA: nothing is pushed back, no transition posted again
    posted = linked.transitions_posted(key)
    linked.drain()
    assert linked.transitions_posted(key) == posted
    events = [e.event for e in linked.engine.history(number)[before:]]
    assert events.count("Resolved") == 1


def test_changes_made_here_reach_jira_and_their_webhooks_change_nothing(linked: Linked) -> None:
    number = linked.engine.open_problem("DNS flaps", impact="medium", urgency="medium").number
    linked.drain()
    key = linked.key(number)
    linked.clock.advance(M)
    linked.engine.acknowledge(number, actor="amy")
    linked.engine.comment(number, "Looking at the resolver logs", actor="amy")
    linked.engine.change_priority(
        number, impact="high", urgency="high", reason="spreading", actor="amy"
    )
    while linked.drain():  # one row per ticket per pass, in order
        pass
    issue = linked.jira.issue(key)["fields"]
    assert (issue["status"]["name"], issue["priority"]["name"]) == ("In Progress", "Highest")
    assert [c["body"] for c in linked.jira.comments(key)] == ["[amy] Looking at the resolver logs"]
    linked.jira.wait_for_webhooks()
    history = len(linked.engine.history(number))
    linked.drain()
    assert len(linked.engine.history(number)) == history  # the echoes applied nothing


def test_a_two_hour_outage_loses_nothing_and_catches_up_in_order(linked: Linked) -> None:
    linked.jira.fail_next(None, status=503)
    number = linked.engine.open_problem("Payments slow", impact="high", urgency="high").number
    linked.engine.acknowledge(number, actor="amy")
    linked.engine.comment(number, "Vendor contacted", actor="amy")
    attempts = 0
    for _ in range(24):  # two hours in steps of five minutes
        linked.drain()
        linked.clock.advance(5 * M)
        attempts = linked.engine.plugins.context.tables(Outbox).rows("jira", number)[0].attempts
    # backoff 30 s, 60 s, ... capped at 900 s: far fewer tries than drains
    assert 5 <= attempts <= 12
    ticket = linked.ticket(number)
    assert ticket["external_refs"] == []
    assert ticket["sync"]["jira"]["failed"] == 1  # the first failure is a fact; retries follow
    linked.jira.clear_faults()
    linked.clock.advance(15 * M)
    while linked.drain():
        linked.clock.advance(M)
    key = linked.key(number)
    issue = linked.jira.issue(key)["fields"]
    assert issue["status"]["name"] == "In Progress"
    assert [c["body"] for c in linked.jira.comments(key)] == ["[amy] Vendor contacted"]


def test_429_is_retried_no_earlier_than_retry_after(linked: Linked) -> None:
    linked.jira.fail_next(1, status=429, retry_after=600)
    number = linked.engine.open_problem("Rate limited", impact="low", urgency="low").number
    linked.drain()
    [row] = linked.engine.plugins.context.tables(Outbox).rows("jira", number)
    assert row.status == "pending"
    assert row.next_attempt == linked.clock.now() + 600 * timedelta(seconds=1)
    linked.clock.advance(599 * timedelta(seconds=1))
    linked.drain()
    assert linked.ticket(number)["external_refs"] == []
    linked.clock.advance(timedelta(seconds=1))
    linked.drain()
    assert linked.key(number) == "PROJ-1"


def test_reconcile_takes_a_newer_jira_change_and_pushes_a_newer_local_one(
    linked: Linked, capsys: pytest.CaptureFixture[str]
) -> None:
    number = linked.engine.open_problem("Drifting", impact="medium", urgency="medium").number
    linked.drain()
    key = linked.key(number)
    linked.jira.wait_for_webhooks()
    linked.jira.unsubscribe(linked.subscription)  # webhooks lost from here on
    linked.clock.advance(10 * M)
    linked.jira.transition(key, "In Progress", as_user=ALICE)
    linked.jira.add_comment(key, "Reproduced on staging", as_user=ALICE)
    dry = reconcile(linked.engine, linked.settings, linked.sync, dry_run=True)
    assert [(r.field, r.jira) for r in dry] == [
        ("state", "In Progress"),
        ("comment 10000", "Reproduced on staging"),
    ]
    assert linked.ticket(number)["state"] == "new"  # a dry run changes nothing
    reconcile(linked.engine, linked.settings, linked.sync, dry_run=False)
    ticket = linked.ticket(number)
    assert ticket["state"] == "in_progress"
    assert ticket["work_notes"] == 1
    assert reconcile(linked.engine, linked.settings, linked.sync, dry_run=True) == []
    # now opsledger is ahead: a local write of the priority JIRA never saw
    linked.clock.advance(10 * M)
    linked.engine.execute(
        RecordSync(
            ticket=number,
            system="jira",
            action="priority",
            outcome="done",
            fields=("priority",),
            actor="jira-sync",
        )
    )
    # JIRA's edit is no later than our recorded write: ours stands and is pushed
    linked.jira.edit(key, {"priority": "Lowest"}, as_user=ALICE)
    repairs = reconcile(linked.engine, linked.settings, linked.sync, dry_run=False)
    assert [r.field for r in repairs] == ["priority"]
    assert "push" in repairs[0].action
    assert linked.jira.issue(key)["fields"]["priority"]["name"] == "Medium"


def test_webhooks_need_the_secret_and_bad_ones_are_set_aside(linked: Linked) -> None:
    url = f"{linked.base}/hooks/jira/main"
    payload = {"webhookEvent": "jira:issue_updated", "timestamp": 1}
    assert httpx.post(url, json=payload).status_code == 401
    assert httpx.post(url + "?secret=wrong", json=payload).status_code == 401
    bad = httpx.post(f"{url}?secret={SECRET}", json=payload)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "issue"
    assert httpx.post(f"{linked.base}/hooks/jira/other?secret=x", json=payload).status_code == 404
    [kept] = linked.engine.rejected_messages("jira:main")
    assert kept.field == "issue"


def test_out_of_order_and_duplicate_webhooks_apply_by_their_timestamps(linked: Linked) -> None:
    number = linked.engine.open_problem("Ordering", impact="medium", urgency="medium").number
    linked.drain()
    key = linked.key(number)
    linked.jira.wait_for_webhooks()
    linked.jira.unsubscribe(linked.subscription)
    emitted = len(linked.jira.emitted)
    linked.clock.advance(M)
    linked.jira.transition(key, "In Progress", as_user=ALICE)
    linked.clock.advance(M)
    linked.jira.transition(key, "Waiting for customer", as_user=ALICE)
    first, second = (e.payload for e in linked.jira.emitted[emitted:])
    url = f"{linked.base}/hooks/jira/main?secret={SECRET}"
    # the hold is applied first (in_progress -> on_hold needs the acknowledge: a note says so)
    assert httpx.post(url, json=second).status_code == 200
    assert httpx.post(url, json=first).status_code == 200  # older: not applied
    assert httpx.post(url, json=second).json()["duplicate"] is True
    ticket = linked.ticket(number)
    assert ticket["state"] == "new"
    assert ticket["sync"]["jira"]["written"]["state"] == linked.clock.now().isoformat()


def test_jira_server_with_a_personal_access_token_syncs_both_ways(
    tmp_path: Path, clock: FixedClock, jira_server_standin: JiraStandin
) -> None:
    settings = JiraSettings.from_mapping(
        {
            "enabled": True,
            "sites": {
                "dc": {
                    "url": jira_server_standin.url,
                    "deployment": "server",
                    "token": BOT.pat,
                    "account": BOT.key,  # Server names users by key in webhooks
                    "webhook_secret": SECRET,
                }
            },
            "rules": [{"name": "problems", "site": "dc", "kinds": ["problem"], "project": "PROJ"}],
        }
    )
    sync = JiraSync(settings)
    engine = Engine(
        Settings(db_path=str(tmp_path / "events.db")), clock=clock, plugins=manager(Reacting(sync))
    )
    app = create_app(engine)
    mount_adapters(app, [JiraAdapter(settings, sync)])
    try:
        with serve(app) as base:
            jira_server_standin.subscribe(
                f"{base}/hooks/jira/dc?secret={SECRET}", events=["jira:issue_updated"]
            )
            number = engine.open_problem("Ledger drift", impact="low", urgency="low").number
            sync.drain_once(LocalBus(engine), engine.plugins.context)
            [key] = [r["reference"] for r in engine.get(number)["external_refs"]]
            assert jira_server_standin.issue(key)["fields"]["priority"]["name"] == "Low"
            clock.advance(5 * M)
            jira_server_standin.add_comment(key, "Root cause: clock skew", as_user=ALICE)
            jira_server_standin.transition(key, "Done", as_user=ALICE)
            jira_server_standin.wait_for_webhooks()
            ticket = engine.get(number)
            assert (ticket["state"], ticket["work_notes"]) == ("resolved", 1)
    finally:
        engine.close()


def test_the_reconcile_command_prints_the_drift_and_dry_run_changes_nothing(
    linked: Linked, tmp_path: Path
) -> None:
    number = linked.engine.open_problem("Drift by CLI", impact="medium", urgency="medium").number
    linked.drain()
    key = linked.key(number)
    linked.jira.wait_for_webhooks()
    linked.jira.unsubscribe(linked.subscription)
    linked.clock.advance(10 * M)
    linked.jira.transition(key, "In Progress", as_user=ALICE)
    config = tmp_path / "jira.json"
    site = {
        "url": linked.jira.url, "deployment": "cloud", "email": BOT.email,
        "token": BOT.api_token, "account": BOT.account_id, "webhook_secret": SECRET,
    }  # fmt: skip
    rule = {"name": "problems", "site": "main", "kinds": ["problem"], "project": "PROJ"}
    config.write_text(json.dumps({"enabled": True, "sites": {"main": site}, "rules": [rule]}))
    env = {**os.environ, "OPSLEDGER_JIRA_ENABLED": "1", "OPSLEDGER_JIRA_CONFIG": str(config)}
    env.pop("OPSLEDGER_DATABASE_URL", None)
    db = linked.engine.settings.db_path

    def reconcile_cli(*flags: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "opsledger", "--db", db, "jira", "reconcile", *flags]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    dry = reconcile_cli("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{number} {key}: state opsledger='new' jira='In Progress'" in dry.stdout
    assert "1 difference(s); would repair as shown" in dry.stdout
    assert linked.ticket(number)["state"] == "new"
    done = reconcile_cli()
    assert done.returncode == 0, done.stderr
    assert "repaired as shown" in done.stdout
    assert linked.ticket(number)["state"] == "in_progress"


def test_links_and_the_resolution_are_carried_over(linked: Linked) -> None:
    first = linked.engine.open_problem("Disk fills up", impact="medium", urgency="medium").number
    second = linked.engine.open_problem("Backups slow", impact="medium", urgency="medium").number
    while linked.drain():
        pass
    a, b = linked.key(first), linked.key(second)
    linked.clock.advance(M)
    linked.engine.link(first, "relates_to", second, actor="amy")
    linked.engine.resolve(first, "workaround", "rotated the logs", actor="amy")
    while linked.drain():
        pass
    [link] = linked.jira.issue(a)["fields"]["issuelinks"]  # one per pair, not one per end
    assert (link.get("outwardIssue") or link.get("inwardIssue", {})).get("key") == b
    fields = linked.jira.issue(a)["fields"]
    assert (fields["status"]["name"], fields["resolution"]["name"]) == ("Done", "Done")
    assert linked.jira.comments(a)[-1]["body"] == (
        "Resolved in opsledger (workaround): rotated the logs"
    )


def test_an_issue_moved_to_another_project_keeps_its_ticket(linked: Linked) -> None:
    number = linked.engine.open_problem("Moves around", impact="low", urgency="low").number
    linked.drain()
    old = linked.key(number)
    linked.jira.wait_for_webhooks()
    moved = json.loads((FIXTURES / "cloud_issue_updated_status.json").read_text())
    moved["timestamp"] = epoch_ms(linked.clock.advance(M))
    moved["issue"]["key"] = "OPS-9"
    moved["changelog"] = {"id": "20001", "items": [
        {"field": "Key", "fieldtype": "jira", "from": None, "fromString": old,
         "to": None, "toString": "OPS-9"},
    ]}  # fmt: skip
    url = f"{linked.base}/hooks/jira/main?secret={SECRET}"
    assert httpx.post(url, json=moved).json()["number"] == number
    assert [r["reference"] for r in linked.ticket(number)["external_refs"]] == [old, "OPS-9"]
    # from now on the new key finds the ticket
    later = json.loads((FIXTURES / "cloud_issue_updated_status.json").read_text())
    later["timestamp"] = epoch_ms(linked.clock.advance(M))
    later["issue"]["key"] = "OPS-9"
    assert httpx.post(url, json=later).json()["number"] == number
    assert linked.ticket(number)["state"] != "new"


def drain_all(linked: Linked) -> None:
    while linked.drain():
        pass


def test_a_link_to_a_ticket_whose_issue_is_being_created_waits_for_it(linked: Linked) -> None:
    a = linked.engine.open_problem("Disk fills up", impact="medium", urgency="medium").number
    drain_all(linked)
    b = linked.engine.open_problem("Backups slow", impact="medium", urgency="medium").number
    linked.engine.link(a, "relates_to", b, actor="amy")
    for _ in range(3):  # the link row retries until b's issue exists
        drain_all(linked)
        linked.clock.advance(5 * M)
    [link] = linked.jira.issue(linked.key(a))["fields"]["issuelinks"]
    assert (link.get("outwardIssue") or link.get("inwardIssue", {})).get("key") == linked.key(b)


def test_two_processes_sharing_the_outbox_perform_each_row_once(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = linked.engine.open_problem("Two workers", impact="low", urgency="low").number
    drain_all(linked)
    key = linked.key(number)
    linked.engine.comment(number, "Vendor contacted", actor="amy")
    other = Engine(linked.engine.settings, clock=linked.clock, plugins=manager())
    other_sync = JiraSync(linked.settings)
    barrier = threading.Barrier(2)
    read_due = Outbox.due

    def due(self: Outbox, *args: Any, **kwargs: Any) -> Any:
        rows = read_due(self, *args, **kwargs)
        barrier.wait(timeout=10)  # both have read the row before either performs it
        return rows

    monkeypatch.setattr(Outbox, "due", due)
    threads = [
        threading.Thread(target=linked.drain),
        threading.Thread(
            target=lambda: other_sync.drain_once(LocalBus(other), other.plugins.context)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert [c["body"] for c in linked.jira.comments(key)] == ["[amy] Vendor contacted"]


def test_a_refused_transition_after_create_keeps_the_issue_key(linked: Linked) -> None:
    number = linked.engine.open_problem("Acked before sync", impact="low", urgency="low").number
    linked.engine.acknowledge(number, actor="amy")
    linked.jira.fail_next(1, status=400, method="POST", path="issue/PROJ-1/transitions")
    for _ in range(3):
        drain_all(linked)
        linked.clock.advance(30 * M)
    assert linked.key(number) == "PROJ-1"
    assert linked.jira.issue("PROJ-1")["fields"]["status"]["name"] == "In Progress"


def test_a_webhook_secret_that_is_not_text_is_refused() -> None:
    with pytest.raises(InputError) as refused:
        JiraSettings.from_mapping(
            {
                "sites": {
                    "main": {
                        "url": "http://127.0.0.1:9",
                        "email": "b@x",
                        "token": "t",
                        "account": "bot",
                        "webhook_secret": 123456789,
                    }
                },
            }
        )
    assert refused.value.field == "sites.main.webhook_secret"


def test_a_late_webhook_does_not_undo_a_newer_change_made_here(linked: Linked) -> None:
    number = linked.engine.open_problem("Swap", impact="medium", urgency="medium").number
    drain_all(linked)
    key = linked.key(number)
    linked.jira.wait_for_webhooks()
    linked.jira.unsubscribe(linked.subscription)
    emitted = len(linked.jira.emitted)
    linked.clock.advance(M)  # 09:01 Alice starts progress in JIRA
    linked.jira.transition(key, "In Progress", as_user=ALICE)
    (late,) = (e.payload for e in linked.jira.emitted[emitted:])
    linked.clock.advance(4 * M)  # 09:05 the ticket is resolved here: the newer write
    linked.engine.resolve(number, "workaround", "restarted", actor="amy")
    linked.clock.advance(M)  # 09:06 Alice's 09:01 webhook arrives
    httpx.post(f"{linked.base}/hooks/jira/main?secret={SECRET}", json=late)
    drain_all(linked)  # the 09:05 resolution reaches JIRA
    assert linked.ticket(number)["state"] == "resolved"
    assert linked.jira.issue(key)["fields"]["status"]["name"] == "Done"


def test_enabled_in_the_settings_file_is_read_as_yes_or_no() -> None:
    assert not JiraSettings.from_mapping({"enabled": "false"}).enabled
    with pytest.raises(InputError) as refused:
        JiraSettings.from_mapping({"enabled": "maybe"})
    assert refused.value.field == "enabled"
