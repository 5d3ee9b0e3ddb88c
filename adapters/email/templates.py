"""The notification texts, in English and Chinese, as plain data rendered with ``string.Template``.

Kept as Python rather than template files (the package-dir mapping ships no data folders, and
a dozen short texts need no template engine). Every subject starts with the ticket token
``[$number]`` so that a reply threads back to its ticket by subject alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template
from types import MappingProxyType

from opsledger.core.domain.errors import InputError

LANGUAGES = ("en", "zh")

#: Templates whose mail goes to the ticket's contact (the rest go to the desk's own people).
CONTACT_TEMPLATES = (
    "acknowledgement",
    "status.assigned",
    "status.on_hold",
    "status.resumed",
    "status.reopened",
    "status.closed",
    "comment",
    "resolution",
    "survey",
)
STAFF_TEMPLATES = ("sla_warning", "sla_breach")
TEMPLATE_NAMES = (*CONTACT_TEMPLATES, *STAFF_TEMPLATES)

#: The keys every template may use; ``render`` is given all of them.
KEYS = (
    "number", "summary", "priority", "state", "group", "assignee", "author", "comment",
    "notes", "note", "reason", "clock", "percent", "due", "desk",
)  # fmt: skip

_EN: dict[str, tuple[str, str]] = {
    "acknowledgement": (
        "[$number] Received: $summary",
        "Hello,\n\n"
        "We have received your request and logged it as $number.\n\n"
        "  Summary:  $summary\n"
        "  Priority: $priority\n\n"
        "We will keep you informed by e-mail. To add information, reply to this message\n"
        "and keep [$number] in the subject.\n\n"
        "$desk\n",
    ),
    "status.assigned": (
        "[$number] Assigned: $summary",
        "Hello,\n\nYour request $number is now with the $group team, who will work on it.\n\n"
        "$desk\n",
    ),
    "status.on_hold": (
        "[$number] Waiting for your reply: $summary",
        "Hello,\n\nWe need information from you to continue with $number.\n\n$note\n\n"
        "Please reply to this message; work resumes as soon as we hear from you.\n\n$desk\n",
    ),
    "status.resumed": (
        "[$number] Work resumed: $summary",
        "Hello,\n\nWe have resumed work on your request $number.\n\n$desk\n",
    ),
    "status.reopened": (
        "[$number] Reopened: $summary",
        "Hello,\n\nYour request $number has been reopened: $reason\n\n"
        "We are working on it again.\n\n$desk\n",
    ),
    "status.closed": (
        "[$number] Closed: $summary",
        "Hello,\n\nYour request $number is now closed. If you need more help, write to us\n"
        "and mention $number.\n\n$desk\n",
    ),
    "comment": (
        "[$number] New comment: $summary",
        "Hello,\n\n$author wrote on $number:\n\n$comment\n\n"
        "Reply to this message to answer.\n\n$desk\n",
    ),
    "resolution": (
        "[$number] Resolved: $summary",
        "Hello,\n\nWe have resolved your request $number.\n\nResolution:\n$notes\n\n"
        "If the problem is not solved, reply to this message and we will reopen it.\n\n"
        "$desk\n",
    ),
    "survey": (
        "[$number] How did we do? $summary",
        "Hello,\n\nYour request $number has been resolved. How satisfied are you with the\n"
        "way we handled it?\n\n"
        "Reply with a number from 1 (poor) to 5 (excellent). You may add a comment after\n"
        "the number.\n\nThank you,\n$desk\n",
    ),
    "sla_warning": (
        "[$number] SLA warning: $percent% of the $clock time used",
        "Ticket $number has used $percent% of its $clock time.\n\n"
        "  Summary:  $summary\n  Priority: $priority\n  Due:      $due\n"
        "  Group:    $group\n  Assignee: $assignee\n  State:    $state\n",
    ),
    "sla_breach": (
        "[$number] SLA breach: $clock target missed",
        "Ticket $number missed its $clock target (due $due).\n\n"
        "  Summary:  $summary\n  Priority: $priority\n"
        "  Group:    $group\n  Assignee: $assignee\n  State:    $state\n\n"
        "You receive this as the group's escalation contact.\n",
    ),
}

_ZH: dict[str, tuple[str, str]] = {
    "acknowledgement": (
        "[$number] 已收到您的请求：$summary",
        "您好：\n\n我们已收到您的请求，编号为 $number。\n\n"
        "  摘要：$summary\n  优先级：$priority\n\n"
        "我们会通过邮件告知处理进展。如需补充信息，请直接回复本邮件，并保留主题中的 [$number]。\n\n"
        "$desk\n",
    ),
    "status.assigned": (
        "[$number] 已分派：$summary",
        "您好：\n\n您的请求 $number 已交由 $group 组处理。\n\n$desk\n",
    ),
    "status.on_hold": (
        "[$number] 等待您的回复：$summary",
        "您好：\n\n我们需要您提供更多信息才能继续处理 $number。\n\n$note\n\n"
        "请直接回复本邮件，收到回复后我们将立即继续处理。\n\n$desk\n",
    ),
    "status.resumed": (
        "[$number] 已恢复处理：$summary",
        "您好：\n\n我们已恢复处理您的请求 $number。\n\n$desk\n",
    ),
    "status.reopened": (
        "[$number] 已重新打开：$summary",
        "您好：\n\n您的请求 $number 已重新打开：$reason\n\n我们将继续处理。\n\n$desk\n",
    ),
    "status.closed": (
        "[$number] 已关闭：$summary",
        "您好：\n\n您的请求 $number 已关闭。如需进一步帮助，请来信并注明 $number。\n\n$desk\n",
    ),
    "comment": (
        "[$number] 新的回复：$summary",
        "您好：\n\n$author 就 $number 写道：\n\n$comment\n\n"
        "如需答复，请直接回复本邮件。\n\n$desk\n",
    ),
    "resolution": (
        "[$number] 已解决：$summary",
        "您好：\n\n您的请求 $number 已解决。\n\n解决说明：\n$notes\n\n"
        "如问题仍未解决，请回复本邮件，我们将重新处理。\n\n$desk\n",
    ),
    "survey": (
        "[$number] 满意度调查：$summary",
        "您好：\n\n您的请求 $number 已解决。您对我们的处理是否满意？\n\n"
        "请回复 1（很差）到 5（很好）之间的数字，也可在数字后附上您的意见。\n\n谢谢！\n$desk\n",
    ),
    "sla_warning": (
        "[$number] SLA 预警：$clock时限已用 $percent%",
        "工单 $number 的$clock时限已用 $percent%。\n\n"
        "  摘要：$summary\n  优先级：$priority\n  到期：$due\n"
        "  处理组：$group\n  处理人：$assignee\n  状态：$state\n",
    ),
    "sla_breach": (
        "[$number] SLA 违约：$clock时限已超时",
        "工单 $number 未能在$clock时限内完成（到期 $due）。\n\n"
        "  摘要：$summary\n  优先级：$priority\n"
        "  处理组：$group\n  处理人：$assignee\n  状态：$state\n\n"
        "您作为该组的升级联系人收到此邮件。\n",
    ),
}

TEMPLATES: Mapping[str, Mapping[str, tuple[str, str]]] = MappingProxyType(
    {"en": MappingProxyType(_EN), "zh": MappingProxyType(_ZH)}
)

#: How an SLA clock is named in each language (other clock names are shown as they are).
CLOCK_NAMES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "en": MappingProxyType({}),
        "zh": MappingProxyType({"response": "响应", "resolution": "解决", "update": "更新"}),
    }
)


def render(template: str, language: str, values: Mapping[str, str]) -> tuple[str, str]:
    """``(subject, body)`` of ``template`` in ``language``; every key of ``KEYS`` is given."""
    if language not in TEMPLATES:
        raise InputError("language", f"{language!r} is not one of {', '.join(LANGUAGES)}")
    texts = TEMPLATES[language].get(template)
    if texts is None:
        raise InputError("template", f"{template!r} is not one of {', '.join(TEMPLATE_NAMES)}")
    missing = [k for k in KEYS if k not in values]
    if missing:
        raise InputError(f"values.{missing[0]}", "every template key needs a value")
    subject, body = texts
    # a subject is one line: a summary with a line break would end the header early
    one_line = {k: " ".join(v.split()) for k, v in values.items()}
    return Template(subject).substitute(one_line), Template(body).substitute(values)


def clock_name(clock: str, language: str) -> str:
    """What a clock measures (``sla/default/response`` -> ``response``), in ``language``."""
    metric = clock.replace(":", "/").rsplit("/", 1)[-1] or clock
    return CLOCK_NAMES.get(language, {}).get(metric, metric)
