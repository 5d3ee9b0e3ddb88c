"""Tokens and roles: 401 without a valid token, 403 for a role without the permission."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from opsledger.adapters.http.auth import Permission, requires

from opsledger.cli import main
from tests.http.desk import ROLES, Desk

#: The documented role matrix (docs/http.md), written out by hand: what each role may call.
MATRIX = {
    #                 agent  integration auditor admin
    "tickets:read": (True, True, True, True),
    "tickets:write": (True, False, False, True),
    "views:read": (True, False, True, True),
    "inbound:write": (False, True, False, True),
    "audit:read": (False, False, True, True),
    "tokens:admin": (False, False, False, True),
}
INBOUND = {"source": "nagios", "external_id": "host-1/disk", "state": "open", "summary": "disk"}


def _call(desk: Desk, permission: str, role: str, number: str) -> int:
    """One representative request per permission, as ``role``; its status."""
    calls = {
        "tickets:read": lambda: desk.get(f"/api/v1/tickets/{number}", role),
        "tickets:write": lambda: desk.post("/api/v1/incidents", {"summary": "x"}, role),
        "views:read": lambda: desk.get("/api/v1/queue", role),
        "inbound:write": lambda: desk.post("/api/v1/inbound", INBOUND, role),
        "audit:read": lambda: desk.get("/api/v1/audit/verify", role),
        "tokens:admin": lambda: desk.get("/api/v1/tokens", role),
    }
    return int(calls[permission]().status_code)


@pytest.mark.parametrize("permission", list(MATRIX))
def test_role_matrix(desk: Desk, permission: str) -> None:
    number = desk.open_incident()
    for role, allowed in zip(ROLES, MATRIX[permission], strict=True):
        status = _call(desk, permission, role, number)
        if allowed:
            assert status in (200, 201), (role, permission, status)
        else:
            assert status == 403, (role, permission, status)


def test_forbidden_names_the_roles_that_may(desk: Desk) -> None:
    response = desk.post("/api/v1/incidents", {"summary": "x"}, role="auditor")
    assert response.json()["error"] == {
        "code": "forbidden",
        "field": None,
        "message": "role auditor may not tickets:write; roles that may: agent, admin",
    }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer olt_not-a-token"},
        {"Authorization": "Bearer something-else"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer "},
    ],
)
def test_missing_or_unknown_token_is_401(desk: Desk, headers: dict[str, str]) -> None:
    response = desk.client.get("/api/v1/queue", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (
        desk.client.post("/api/v1/incidents", json={"summary": "x"}, headers=headers).status_code
        == 401
    )


def test_revoked_token_is_refused_at_once(desk: Desk) -> None:
    issued = desk.post("/api/v1/tokens", {"name": "jira-sync", "role": "integration"}, "admin")
    assert issued.status_code == 201
    secret, token_id = issued.json()["token"], issued.json()["id"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert desk.client.post("/api/v1/inbound", json=INBOUND, headers=headers).status_code == 200
    listed = desk.get("/api/v1/tokens", "admin").json()
    assert all("token" not in t and secret not in json.dumps(t) for t in listed)
    assert desk.client.delete(f"/api/v1/tokens/{token_id}", headers=desk.as_("admin")).json()[
        "revoked_at"
    ]
    assert desk.client.get("/api/v1/tickets/INC-000001", headers=headers).status_code == 401


def test_secrets_are_stored_only_as_their_hash(desk: Desk, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "events.db")
    rows = db.execute("SELECT * FROM opsledger_api_tokens").fetchall()
    db.close()
    stored = json.dumps(rows)
    for secret in desk.secrets.values():
        assert secret not in stored
        assert secret[:8] in stored  # the hint, and no more of it
        assert secret[8:16] not in stored


def test_login_sets_a_strict_cookie_that_authenticates(desk: Desk) -> None:
    client = TestClient(desk.app, base_url="http://localhost")
    form = {"token": desk.secrets["agent"], "next": "/api/v1/queue"}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/api/v1/queue"
    cookie = response.headers["set-cookie"]
    assert "opsledger_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/api/v1/queue").status_code == 200  # the cookie alone
    client.post("/logout", follow_redirects=False)
    assert client.get("/api/v1/queue").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_login_never_redirects_off_site(desk: Desk, target: str) -> None:
    form = {"token": desk.secrets["agent"], "next": target}
    response = desk.client.post("/login", data=form, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_login_with_a_bad_token_shows_the_form_again(desk: Desk) -> None:
    response = desk.client.post("/login", data={"token": "olt_nope"}, follow_redirects=False)
    assert response.status_code == 401
    assert "Unknown or revoked token" in response.text and "set-cookie" not in response.headers
    assert desk.client.post("/login", json={"token": "x"}).status_code == 415
    assert desk.client.get("/login").status_code == 200


def test_a_browser_without_a_cookie_is_sent_to_login(desk: Desk) -> None:
    router = APIRouter(dependencies=[Depends(requires(Permission.VIEWS_READ))])
    router.add_api_route("/board", lambda: {"ok": True})
    desk.app.include_router(router)
    page = desk.client.get("/board", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/board"
    # the API and programs (no Accept: text/html) get the 401 itself
    assert desk.client.get("/board").status_code == 401
    assert desk.get("/board").json() == {"ok": True}


def test_api_token_cli_create_list_revoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLEDGER_ACTOR", "ops-lead")
    db = str(tmp_path / "cli.db")
    assert (
        main(["--db", db, "api-token", "create", "--name", "grafana", "--role", "integration"]) == 0
    )
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("olt_") and len(secret) > 40
    assert main(["--db", db, "api-token", "list", "--format", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["role"], listed["created_by"]) == (
        "grafana",
        "integration",
        "ops-lead",
    )
    assert listed["hint"] == secret[:8] + "…" and listed["revoked_at"] is None
    # a second active token of the same name is refused (exit 5: conflict)
    assert main(["--db", db, "api-token", "create", "--name", "grafana", "--role", "agent"]) == 5
    assert "already named 'grafana'" in capsys.readouterr().err
    assert main(["--db", db, "api-token", "revoke", "grafana"]) == 0
    assert "revoked 1 (grafana)" in capsys.readouterr().out
    assert main(["--db", db, "api-token", "revoke", "grafana"]) == 3  # no active one of that name
    assert main(["--db", db, "api-token", "create", "--name", "x", "--role", "root"]) == 2
