"""The notifier's settings from JSON, and the templates in both languages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.email.notify import GroupContact, NotifySettings
from opsledger.adapters.email.templates import KEYS, LANGUAGES, TEMPLATE_NAMES, render
from opsledger.core.domain.errors import InputError

CONFIG: dict[str, Any] = {
    "from_address": "desk@ops.example.com",
    "from_name": "IT Service Desk",
    "language": "zh",
    "groups": {
        "dba": {"address": "dba@ops.example.com", "manager": "mia", "language": "en"},
        "network": {"manager": "noc-lead@ops.example.com"},
    },
    "people": {"mia": "mia@ops.example.com"},
    "contacts": {"wang@kunde.example": "zh-CN"},
    "survey": False,
    "attempts": 3,
    "base_delay_s": 10,
    "max_delay_s": 60,
}


def test_settings_from_json_default_the_message_id_domain_to_the_desks() -> None:
    settings = NotifySettings.from_mapping(CONFIG)
    assert settings.message_id_domain == "ops.example.com"
    assert settings.groups["dba"] == GroupContact(
        address="dba@ops.example.com", manager="mia", language="en"
    )
    assert settings.person("mia") == "mia@ops.example.com"
    assert settings.person("someone@ops.example.com") == "someone@ops.example.com"
    assert settings.person("bob") is None
    # configured language wins over the detected one; unknown contacts take the default
    assert settings.contact_language("Wang@Kunde.example", "en") == "zh"
    assert settings.contact_language("pat@customer.example", "en-GB") == "en"
    assert settings.contact_language("pat@customer.example", None) == "zh"
    # 10 s doubling, capped at 60 s: waits after tries 1 and 2, then give up after the third
    assert [settings.delay_after(n) for n in (1, 2, 3)] == [10, 20, None]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"groups": {"dba": {"address": "not an address"}}}, "notify.groups.dba.address"),
        ({"groups": {"dba": {"manager": "nobody"}}}, "notify.groups.dba.manager"),
        ({"groups": {"dba": {"pager": "x"}}}, "notify.groups.dba.pager"),
        ({"groups": {"dba": {"language": "fr"}}}, "notify.groups.dba.language"),
        ({"people": {"ann": 7}}, "notify.people.ann"),
        ({"contacts": {"pat@customer.example": "klingon"}}, "notify.contacts.pat@customer.example"),
        ({"from_address": "Service Desk <desk@ops.example.com>"}, "notify.from_address"),
        ({"language": "de"}, "notify.language"),
        ({"attempts": 0}, "notify.attempts"),
        ({"max_delay_s": 1}, "notify.max_delay_s"),
        ({"survey": "yes"}, "notify.survey"),
        ({"smtp_host": "relay"}, "notify.smtp_host"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_place(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as refused:
        NotifySettings.from_mapping({**CONFIG, **change})
    assert refused.value.field == field


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from([*CONFIG, "other"]), JSON, max_size=6))
def test_any_json_either_builds_settings_or_names_the_bad_field(data: dict[str, Any]) -> None:
    try:
        NotifySettings.from_mapping({**CONFIG, **data})
    except InputError as e:
        assert e.field.startswith("notify")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_every_template_renders_in_both_languages_with_the_token_first(
    template: str, language: str
) -> None:
    values = {key: f"<{key}>" for key in KEYS} | {"number": "INC-000123", "summary": "a\nb"}
    subject, body = render(template, language, values)
    assert subject.startswith("[INC-000123] ")
    assert "\n" not in subject and "$" not in subject + body
    assert body.strip()


def test_the_survey_asks_for_a_score_from_one_to_five_in_each_language() -> None:
    values = {key: "x" for key in KEYS}
    assert "Reply with a number from 1 (poor) to 5 (excellent)" in render("survey", "en", values)[1]
    assert "请回复 1（很差）到 5（很好）之间的数字" in render("survey", "zh", values)[1]
