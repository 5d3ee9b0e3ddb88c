"""JIRA's default workflow and schemes: statuses, transitions, priorities, resolutions, types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: Literal["new", "indeterminate", "done"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A workflow transition; ``sources`` None means offered from every other status."""

    id: str
    name: str
    to: str
    sources: frozenset[str] | None = None
    event: str = "issue_generic"  # issue_event_type_name of the webhook it causes


STATUSES = (
    Status("10000", "To Do", "new"),
    Status("3", "In Progress", "indeterminate"),
    Status("10002", "Waiting for customer", "indeterminate"),
    Status("10001", "Done", "done"),
)
TRANSITIONS = (
    Transition("11", "Stop Progress", "To Do", frozenset({"In Progress", "Waiting for customer"})),
    Transition("21", "Start Progress", "In Progress"),
    Transition("31", "Wait for customer", "Waiting for customer"),
    Transition("41", "Done", "Done"),
    Transition("51", "Reopen", "To Do", frozenset({"Done"})),
)
PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))
RESOLUTIONS = (
    ("10000", "Done"),
    ("1", "Fixed"),
    ("10001", "Won't Do"),
    ("3", "Duplicate"),
    ("5", "Cannot Reproduce"),
)
ISSUE_TYPE_IDS = {"Epic": "10000", "Task": "10001", "Bug": "10002", "Story": "10003"}
LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
    ("10004", "Problem/Incident", "is caused by", "causes"),
)
CATEGORY = {"new": (2, "To Do", "blue-gray"), "indeterminate": (4, "In Progress", "yellow")}
CATEGORY["done"] = (3, "Done", "green")
SYSTEM_EDITABLE = (
    "summary",
    "description",
    "issuetype",
    "priority",
    "labels",
    "assignee",
    "duedate",
)
