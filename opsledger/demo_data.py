"""The demo's cast: services, their CIs, support groups, agents and what tends to go wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CISpec:
    """A configuration item to register, with the names of the CIs it runs on / depends on."""

    ci_type: str
    name: str
    owner: str
    attributes: dict[str, Any] = field(default_factory=dict)
    runs_on: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    """A business service: who supports it at L2 and L3, what breaks, what people ask for."""

    name: str
    weight: float  # share of incident arrivals
    l2_group: str
    l2_agents: tuple[str, ...]
    l3_group: str
    vendor: bool  # holds awaiting a vendor are plausible
    critical: bool  # a candidate for major incidents
    cis: tuple[CISpec, ...]
    symptoms: tuple[str, ...]
    requests: tuple[str, ...] = ()
    l2_hours: str = "amsterdam-office"  # the CALENDARS entry the L2 team works


def _server(name: str, owner: str, host: str) -> CISpec:
    return CISpec("server", name, owner, {"os": "ubuntu-22.04", "cores": 8}, runs_on=(host,))


#: Shared infrastructure, registered before the services that run on it.
INFRASTRUCTURE: tuple[CISpec, ...] = (
    CISpec("cluster", "esx-cluster-a", "platform-engineering", {"site": "ams-1", "hosts": 12}),
    CISpec("cluster", "esx-cluster-b", "platform-engineering", {"site": "ams-2", "hosts": 10}),
    CISpec("network", "core-lb-01", "network-engineering", {"vendor": "f5", "ha": True}),
)

SERVICES: tuple[Service, ...] = (
    Service(
        "checkout", 0.18, "checkout-support", ("noah", "ines"), "app-engineering",
        vendor=False, critical=True,
        cis=(
            _server("chk-web-01", "app-engineering", "esx-cluster-a"),
            _server("chk-web-02", "app-engineering", "esx-cluster-b"),
            CISpec("database", "checkout-db", "dba-team", {"engine": "postgresql", "version": 15}),
            CISpec("application", "checkout-api", "app-engineering", {"language": "python"},
                   runs_on=("chk-web-01", "chk-web-02"),
                   depends_on=("checkout-db", "payments-api", "core-lb-01")),
        ),
        symptoms=(
            "Checkout page returns 502 for some customers", "Basket total wrong after voucher",
            "Order confirmation e-mail not sent", "Checkout very slow at peak",
            "Address lookup fails at checkout", "Duplicate orders created on double click",
        ),
    ),
    Service(
        "payments", 0.14, "payments-support", ("amal", "jonas"), "app-engineering",
        vendor=True, critical=True,
        cis=(
            _server("pay-app-01", "app-engineering", "esx-cluster-a"),
            _server("pay-app-02", "app-engineering", "esx-cluster-b"),
            CISpec("database", "payments-db", "dba-team", {"engine": "postgresql", "version": 15}),
            CISpec("external_service", "psp-gateway", "payments-support", {"vendor": "paynet"}),
            CISpec("application", "payments-api", "app-engineering", {"pci": True},
                   runs_on=("pay-app-01", "pay-app-02"), depends_on=("payments-db", "psp-gateway")),
        ),
        symptoms=(
            "Card payments declined for valid cards", "Refund stuck in pending",
            "3-D Secure challenge never completes", "Settlement report missing yesterday",
            "Payment provider timeouts", "Invoice payment not matched",
        ),
    ),
    Service(
        "search", 0.10, "search-support", ("lea", "marek"), "app-engineering",
        vendor=False, critical=False,
        cis=(
            _server("search-01", "platform-engineering", "esx-cluster-a"),
            _server("search-02", "platform-engineering", "esx-cluster-b"),
            CISpec("cluster", "search-index", "platform-engineering", {"engine": "opensearch"},
                   runs_on=("search-01", "search-02")),
            CISpec("application", "search-api", "app-engineering", {"language": "java"},
                   depends_on=("search-index",)),
        ),
        symptoms=(
            "Search returns no results for known products", "Search suggestions very slow",
            "New products missing from search", "Search filters ignored",
        ),
    ),
    Service(
        "identity", 0.16, "identity-support", ("sara", "tomas"), "platform-engineering",
        vendor=False, critical=True,
        cis=(
            _server("idp-01", "platform-engineering", "esx-cluster-a"),
            _server("idp-02", "platform-engineering", "esx-cluster-b"),
            CISpec("directory", "corp-ldap", "platform-engineering", {"product": "openldap"}),
            CISpec("application", "identity-sso", "platform-engineering", {"protocol": "oidc"},
                   runs_on=("idp-01", "idp-02"), depends_on=("corp-ldap",)),
        ),
        symptoms=(
            "Cannot log in to the intranet", "Password reset link expired immediately",
            "MFA push not arriving", "Account locked after one attempt",
            "SSO loop between portal and HR system", "New starter has no account",
        ),
        requests=(
            "Access to the finance share", "New account for starter", "Reset MFA device",
            "Add user to sales group", "Remove access for leaver",
        ),
    ),
    Service(
        "email", 0.13, "messaging-support", ("olu", "petra"), "platform-engineering",
        vendor=True, critical=False,
        cis=(
            _server("mx-01", "platform-engineering", "esx-cluster-a"),
            _server("mx-02", "platform-engineering", "esx-cluster-b"),
            CISpec("application", "mail-relay", "platform-engineering", {"product": "postfix"},
                   runs_on=("mx-01", "mx-02"), depends_on=("corp-ldap",)),
        ),
        symptoms=(
            "Outgoing mail delayed by hours", "Shared mailbox not visible",
            "Calendar invites not delivered", "Mail marked as spam by customers",
            "Mailbox full warning",
        ),
        requests=("New shared mailbox", "Distribution list change", "Increase mailbox quota"),
    ),
    Service(
        "vpn", 0.11, "network-support", ("ravi", "ulla"), "network-engineering",
        vendor=True, critical=False,
        cis=(
            CISpec("network", "vpn-gateway", "network-engineering", {"vendor": "fortinet"},
                   depends_on=("radius-01",)),
            _server("radius-01", "network-engineering", "esx-cluster-a"),
        ),
        symptoms=(
            "VPN drops every few minutes", "VPN client cannot connect from hotel",
            "Slow file access over VPN", "VPN certificate expired on laptop",
        ),
        requests=("VPN access for contractor", "Split tunnel exception"),
    ),
    Service(
        "erp", 0.10, "erp-support", ("vera", "wim"), "app-engineering",
        vendor=True, critical=False,
        cis=(
            _server("erp-app-01", "app-engineering", "esx-cluster-a"),
            CISpec("database", "erp-db", "dba-team", {"engine": "oracle", "version": 19}),
            CISpec("application", "erp", "app-engineering", {"vendor": "sap"},
                   runs_on=("erp-app-01",), depends_on=("erp-db",)),
        ),
        symptoms=(
            "Purchase order approval stuck", "Month-end posting job failed",
            "ERP screen freezes on save", "Stock levels out of sync with warehouse",
        ),
        requests=("ERP role change", "New cost centre", "Access to purchasing module"),
        l2_hours="shanghai-office",  # run from the Shanghai shared-service centre
    ),
    Service(
        "data-warehouse", 0.08, "data-support", ("yara", "zeno"), "dba-team",
        vendor=False, critical=False,
        cis=(
            _server("dwh-etl-01", "dba-team", "esx-cluster-b"),
            CISpec("database", "dwh", "dba-team", {"engine": "postgresql", "version": 16}),
            CISpec("application", "dwh-etl", "dba-team", {"scheduler": "airflow"},
                   runs_on=("dwh-etl-01",), depends_on=("dwh", "erp-db", "checkout-db")),
        ),
        symptoms=(
            "Nightly load failed", "Sales dashboard shows yesterday's figures",
            "Report query times out", "Duplicate rows in revenue table",
        ),
        requests=("Access to the sales dashboard", "New KPI report"),
    ),
)  # fmt: skip

L1_DAY_GROUP = "service-desk"
L1_NIGHT_GROUP = "service-desk-night"
L1_DAY_AGENTS = ("alice", "bob", "chen", "dara", "emeka", "fatima")
L1_NIGHT_AGENTS = ("gus", "hana")
#: L3 engineering groups and their engineers.
L3_AGENTS: dict[str, tuple[str, ...]] = {
    "app-engineering": ("ada", "brian", "carmen"),
    "platform-engineering": ("dmitri", "elif", "farid"),
    "network-engineering": ("grace", "hugo"),
    "dba-team": ("ivan", "julia"),
}
DUTY_MANAGER = "duty-manager"
HEAD_OF_OPERATIONS = "head-of-operations"
CAB_CHAIR = "cab-chair"

CUSTOMERS = ("sales", "finance", "warehouse", "marketing", "hr", "customer-care", "web-shop")
FIRST_NAMES = (
    "anna", "ben", "clara", "david", "eva", "felix", "gina", "henk", "iris", "jan",
    "kim", "lars", "mia", "nils", "omar", "pia", "rosa", "sven", "tara", "ugo",
)  # fmt: skip
LAST_NAMES = (
    "berg", "costa", "dijk", "evans", "fischer", "garcia", "hall", "ito", "jansen",
    "kowalski", "lopez", "meyer", "novak", "olsen", "peters", "quinn",
)  # fmt: skip

CHANNELS = (("portal", 0.40), ("email", 0.25), ("phone", 0.20), ("monitoring", 0.15))
IMPACTS = (("high", 0.10), ("medium", 0.35), ("low", 0.55))
URGENCIES = (("high", 0.15), ("medium", 0.45), ("low", 0.40))
RESOLUTION_CODES = (
    ("fixed", 0.30), ("configuration_change", 0.15), ("restarted_service", 0.15),
    ("workaround", 0.12), ("user_error", 0.10), ("no_fault_found", 0.08),
    ("vendor_fix", 0.05), ("duplicate", 0.05),
)  # fmt: skip
SATISFACTION = ((5, 0.40), (4, 0.30), (3, 0.15), (2, 0.10), (1, 0.05))

#: Relative arrival rate per local hour (0-23): a business-hours peak, quiet nights.
HOURLY = (0.15, 0.1, 0.1, 0.1, 0.12, 0.2, 0.4, 0.8, 1.4, 1.9, 2.0, 1.9,
          1.3, 1.7, 1.8, 1.6, 1.3, 0.9, 0.6, 0.45, 0.35, 0.3, 0.25, 0.2)  # fmt: skip
#: Relative arrival rate per weekday (Monday first): weekday-heavy, Monday busiest.
WEEKDAY = (1.25, 1.1, 1.05, 1.0, 0.9, 0.3, 0.25)

ROOT_CAUSES = (
    "connection pool exhausted under peak load", "certificate rotation not automated",
    "memory leak in release 4.2", "vendor API rate limit lowered without notice",
    "misconfigured load-balancer health check", "index rebuild job overlaps nightly load",
    "disk on database host filling with WAL files", "DNS TTL too long after failover",
)  # fmt: skip
WORKAROUNDS = (
    "restart the affected node", "fail over to the second site", "clear the session cache",
    "re-run the job manually after 06:00", "raise the pool size temporarily",
)  # fmt: skip
STANDARD_CHANGES = (
    "Monthly OS patching", "Renew TLS certificate", "Rotate service credentials",
    "Add disk to database host",
)  # fmt: skip
NORMAL_CHANGES = (
    "Upgrade to release 4.3", "Migrate to new load balancer pool", "Database minor upgrade",
    "Tune connection pool", "Enable request tracing",
)  # fmt: skip
RESOLUTION_NOTES = {
    "fixed": "Fault corrected and verified with the reporter.",
    "configuration_change": "Configuration corrected; change recorded in the CMDB.",
    "restarted_service": "Service restarted; monitoring green since.",
    "workaround": "Workaround applied from the known-error database.",
    "user_error": "Explained the correct steps to the user.",
    "no_fault_found": "Could not reproduce; the reporter confirmed it works now.",
    "vendor_fix": "Vendor deployed a fix on their side.",
    "duplicate": "Same cause as an earlier ticket; handled there.",
}
WORK_NOTES = (
    "Checked the application logs around the reported time.",
    "Error rate on the dashboard is back to baseline.",
    "Asked the on-call engineer for a second opinion.",
    "Reproduced in the test environment.",
)  # fmt: skip
FEEDBACK = {
    5: "Quick and friendly, thank you.",
    4: "Fixed, but it took a while.",
    3: "Fine in the end.",
    2: "I had to chase this twice.",
    1: "Far too slow for something this important.",
}

# -- service levels ------------------------------------------------------------------------------

_WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
#: When the teams work. The stories keep these hours and the SLA policies below count business
#: time on the same calendars, so what the desk does and what the clocks measure agree.
CALENDARS: dict[str, dict[str, Any]] = {
    "24x7": {"timezone": "UTC", "always_open": True},
    "amsterdam-office": {
        "timezone": "Europe/Amsterdam",
        "country": "NL",
        "hours": {day: [["08:00", "18:00"]] for day in _WORKDAYS},
    },
    "shanghai-office": {  # Chinese public holidays, and the make-up Saturdays and Sundays
        "timezone": "Asia/Shanghai",
        "country": "CN",
        "hours": {day: [["09:00", "12:00"], ["13:00", "18:00"]] for day in _WORKDAYS},
    },
}
SERVICE_LEVEL_MANAGER = "service-level-manager"
#: The customer SLA of every service: the library's default targets (P1 15 min / 4 h round the
#: clock with a public update every 30 min; P2-P4 in office hours), on the desk's own calendar.
DESK_SLA: dict[str, Any] = {
    "name": "default",
    "description": "Service desk SLA: P1 round the clock, P2-P4 in Amsterdam office hours",
    "calendars": {"24x7": CALENDARS["24x7"], "office": CALENDARS["amsterdam-office"]},
    "targets": {
        "P1": {"calendar": "24x7", "response_minutes": 15, "resolution_minutes": 240,
               "update_minutes": 30},
        "P2": {"calendar": "office", "response_minutes": 30, "resolution_minutes": 480},
        "P3": {"calendar": "office", "response_minutes": 240, "resolution_minutes": 1440},
        "P4": {"calendar": "office", "response_minutes": 480, "resolution_minutes": 2400},
    },
}  # fmt: skip
#: ERP is supported from Shanghai, so its SLA runs on Shanghai hours (the same policy as
#: examples/policies/shanghai.json).
ERP_SLA: dict[str, Any] = {
    "name": "erp-shanghai",
    "description": "ERP is run from the Shanghai shared-service centre: Shanghai office hours, "
    "Chinese public holidays and make-up working days",
    "services": ["erp"],
    "calendars": {
        "24x7": {"timezone": "Asia/Shanghai", "always_open": True},
        "shanghai-office": CALENDARS["shanghai-office"],
    },
    "targets": {
        "P1": {"calendar": "24x7", "response_minutes": 15, "resolution_minutes": 240,
               "update_minutes": 60},
        "P2": {"calendar": "shanghai-office", "response_minutes": 60, "resolution_minutes": 480},
        "P3": {"calendar": "shanghai-office", "response_minutes": 240,
               "resolution_minutes": 1440},
        "P4": {"calendar": "shanghai-office", "response_minutes": 480,
               "resolution_minutes": 2400},
    },
}  # fmt: skip
#: The network team's promise to the desk: pick a ticket up, and fix it or hand it on, in time.
NETWORK_OLA: dict[str, Any] = {
    "name": "network-ola",
    "agreement": "ola",
    "description": "Network support picks up within the OLA and resolves or hands on",
    "groups": ["network-support"],
    "calendars": {"24x7": CALENDARS["24x7"], "office": CALENDARS["amsterdam-office"]},
    "targets": {
        "P1": {"calendar": "24x7", "response_minutes": 10, "resolution_minutes": 120},
        "P2": {"calendar": "office", "response_minutes": 15, "resolution_minutes": 240},
        "P3": {"calendar": "office", "response_minutes": 60, "resolution_minutes": 600},
        "P4": {"calendar": "office", "response_minutes": 120, "resolution_minutes": 1200},
    },
}  # fmt: skip
POLICIES: tuple[dict[str, Any], ...] = (DESK_SLA, ERP_SLA, NETWORK_OLA)
