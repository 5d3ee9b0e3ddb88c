"""Who can call the stand-in: JIRA accounts, the bot the adapter logs in as, and a human."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    """A JIRA user. Cloud knows it by ``account_id``; Server/DC by ``name`` (login) and ``key``.

    Basic auth is (email or name, ``api_token``); Bearer auth is ``pat``.
    """

    account_id: str
    name: str
    key: str
    display_name: str
    email: str
    api_token: str | None = None
    pat: str | None = None


BOT = Account(
    "557058:6f1c0d3e-0b0b-4c1e-9e59-0b5b0a7e0b07",
    "opsledger-bot",
    "JIRAUSER10000",
    "opsledger bot",
    "opsledger-bot@example.com",
    api_token="bot-api-token",
    pat="bot-pat",
)
ALICE = Account(
    "5b10ac8d82e05b22cc7d4ef5",
    "alice",
    "JIRAUSER10001",
    "Alice Developer",
    "alice@example.com",
    api_token="alice-api-token",
    pat="alice-pat",
)
