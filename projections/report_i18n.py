"""The quality report's words in English and Chinese (ITSS terms), and how figures are shown.

Every label and finding the report prints comes from here, so an edition is one table; the
figures are formatted the same way in every format, so a test can read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from opsledger.core.domain.errors import InputError

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
#: What a missing figure (a rate of nothing, a mean of no durations) is shown as.
NONE = "—"

_EN: dict[str, str] = {
    "title": "Monthly service quality report",
    "month": "Month",
    "timezone": "Time zone",
    "kinds": "Tickets",
    "incident": "incidents",
    "service_request": "service requests",
    "as_of": "Facts as of",
    "summary": "Summary",
    "findings": "Findings",
    "sla": "SLA attainment",
    "response": "Response",
    "resolution": "Resolution",
    "by_priority": "SLA attainment by priority",
    "by_service": "SLA attainment by service",
    "priority": "Priority",
    "service": "Service",
    "ci": "Configuration item",
    "met": "Met",
    "breached": "Breached",
    "running": "Running",
    "rate": "Attainment",
    "target": "Target",
    "below": "below target",
    "on_target": "on target",
    "opened": "Opened",
    "resolved": "Resolved",
    "trends": "Trends of the last {n} months",
    "chart_sla": "SLA attainment per month (%)",
    "chart_mttr": "MTTR per month (hours)",
    "chart_volume": "Volume per month (tickets)",
    "worst": "Most breached",
    "worst_services": "Services with the most SLA breaches",
    "worst_cis": "Configuration items with the most SLA breaches",
    "breaches": "Breaches",
    "decided": "Decided",
    "none_breached": "No SLA breaches this month.",
    "times": "Restoration and reliability",
    "mtta": "MTTA (mean time to acknowledge)",
    "mttr": "MTTR (mean time to restore)",
    "mttr_short": "MTTR",
    "detected_to_restored": "Detected to restored (monitoring incidents, from the alert's start)",
    "mean": "Mean",
    "median": "Median",
    "p90": "90th percentile",
    "count": "Count",
    "mtbf": "MTBF (mean time between failures)",
    "mtbf_short": "MTBF",
    "failures": "Failures",
    "downtime": "Downtime",
    "estate": "All services",
    "quality": "Resolution quality",
    "fcr": "First-contact resolution (FCR)",
    "reopen": "Reopen rate",
    "solved_24h": "Solved within 24 h of first response",
    "escalation": "Escalation rate",
    "customer": "Customer experience",
    "satisfaction": "Satisfaction (average score, 1-5)",
    "response_rate": "Survey response rate",
    "complaints": "Complaints",
    "complaint_tickets": "Tickets with a complaint",
    "callback_ola": "OLA · satisfaction call-backs done within target",
    "callbacks_requested": "Satisfaction call-backs requested",
    "callbacks_done": "Call-backs done",
    "callbacks_reached": "Customers reached by call-back",
    "callbacks_pending": "Call-backs still owed (not yet due or not yet breached)",
    "backlog": "Backlog at month end",
    "ageing": "Backlog by age",
    "policies": "SLA policies in force",
    "policy": "Policy",
    "scope": "Scope",
    "all": "all",
    "total": "All",
    "response_time": "Respond within",
    "resolution_time": "Resolve within",
    "value": "Value",
    "measure": "Measure",
    "legend_target": "target",
    "with_target": "{label} (target {value})",
    "opened_l": "opened",
    "resolved_l": "resolved",
    "backlog_l": "backlog",
    "mean_l": "mean",
    "median_l": "median",
    "p90_l": "p90",
    "response_l": "response",
    "resolution_l": "resolution",
    "footer": "Definitions: docs/kpis.md. Computed from the ticket facts read model.",
    "min": "min",
    "h": "h",
    "d": "d",
}

_ZH: dict[str, str] = {
    "title": "月度服务质量报告",
    "month": "月份",
    "timezone": "时区",
    "kinds": "工单范围",
    "incident": "事件",
    "service_request": "服务请求",
    "as_of": "数据截至",
    "summary": "概览",
    "findings": "主要发现",
    "sla": "服务级别协议达成率",
    "response": "响应",
    "resolution": "解决",
    "by_priority": "按优先级的服务级别协议达成率",
    "by_service": "按服务的服务级别协议达成率",
    "priority": "优先级",
    "service": "服务",
    "ci": "配置项",
    "met": "达标",
    "breached": "违约",
    "running": "计时中",
    "rate": "达成率",
    "target": "目标",
    "below": "未达目标",
    "on_target": "达标",
    "opened": "新建",
    "resolved": "已解决",
    "trends": "近 {n} 个月趋势",
    "chart_sla": "每月服务级别协议达成率（%）",
    "chart_mttr": "每月平均修复时间（小时）",
    "chart_volume": "每月工单量（张）",
    "worst": "违约最多",
    "worst_services": "违约最多的服务",
    "worst_cis": "违约最多的配置项",
    "breaches": "违约数",
    "decided": "已判定",
    "none_breached": "本月没有违约。",
    "times": "修复与可靠性",
    "mtta": "平均响应时间（MTTA）",
    "mttr": "平均修复时间（MTTR）",
    "mttr_short": "平均修复时间",
    "detected_to_restored": "从告警到恢复（监控告警事件：告警开始至解决）",
    "mean": "平均值",
    "median": "中位数",
    "p90": "第 90 百分位",
    "count": "数量",
    "mtbf": "平均故障间隔时间（MTBF）",
    "mtbf_short": "平均故障间隔时间",
    "failures": "故障数",
    "downtime": "停机时间",
    "estate": "全部服务",
    "quality": "解决质量",
    "fcr": "一次解决率（FCR）",
    "reopen": "重开率",
    "solved_24h": "首次响应后 24 小时内解决率",
    "escalation": "升级率",
    "customer": "客户体验",
    "satisfaction": "客户满意度（平均分，1-5）",
    "response_rate": "满意度调查回复率",
    "complaints": "投诉",
    "complaint_tickets": "被投诉的工单",
    "callback_ola": "运营级别协议 · 满意度回访按时完成率",
    "callbacks_requested": "应回访数",
    "callbacks_done": "已回访数",
    "callbacks_reached": "回访接通数",
    "callbacks_pending": "待回访数（未到期或尚未超时）",
    "backlog": "月末积压",
    "ageing": "积压时长分布",
    "policies": "现行服务级别协议",
    "policy": "协议",
    "scope": "适用范围",
    "all": "全部",
    "total": "合计",
    "response_time": "响应时限",
    "resolution_time": "解决时限",
    "value": "数值",
    "measure": "指标",
    "legend_target": "目标",
    "with_target": "{label}（目标 {value}）",
    "opened_l": "新建",
    "resolved_l": "已解决",
    "backlog_l": "积压",
    "mean_l": "平均值",
    "median_l": "中位数",
    "p90_l": "P90",
    "response_l": "响应",
    "resolution_l": "解决",
    "footer": "指标定义见 docs/kpis.md；数据来自工单事实读模型。",
    "min": "分钟",
    "h": "小时",
    "d": "天",
}

_FINDINGS: dict[Lang, dict[str, str]] = {
    "en": {
        "no_tickets": "No tickets were opened, resolved or open in {month}.",
        "overall_below": "{metric} SLA attainment was {rate}, below the {target} target "
        "({breached} of {decided} breached).",
        "priority_below": "{priority}: {metric} SLA attainment {rate}, below the {target} target "
        "({breached} of {decided} breached).",
        "service_below": "Service {service}: {metric} SLA attainment {rate}, below the {target} "
        "target ({breached} of {decided} breached).",
        "attainment_fell": "{metric} SLA attainment fell from {before} in {previous} to {rate}.",
        "fcr_below": "First-contact resolution was {rate}, below the {target} target.",
        "solved_24h_below": "Only {rate} of resolved tickets were solved within 24 h of the "
        "first response (target {target}).",
        "reopen_above": "Reopen rate was {rate}, above the {target} limit.",
        "satisfaction_below": "Average satisfaction was {score}, below the {target} target "
        "({surveyed} surveys).",
        "complaints": "{count} complaints were recorded on {tickets} tickets.",
        "callback_below": "Only {rate} of the satisfaction call-backs were done within their "
        "OLA target, below the {target} target ({breached} of {decided} late).",
        "backlog_rising": "Backlog rose from {before} to {after} open tickets "
        "({months} month(s) of growth in a row).",
        "mttr_rising": "Mean MTTR rose from {before} in {previous} to {after}.",
        "all_on_target": "Every SLA attainment, FCR and satisfaction figure met its target.",
    },
    "zh": {
        "no_tickets": "{month} 没有新建、解决或未关闭的工单。",
        "overall_below": "{metric}服务级别协议达成率为 {rate}，低于 {target} 的目标"
        "（{decided} 张中违约 {breached} 张）。",
        "priority_below": "{priority}：{metric}服务级别协议达成率为 {rate}，低于 {target} 的目标"
        "（{decided} 张中违约 {breached} 张）。",
        "service_below": "服务 {service}：{metric}服务级别协议达成率为 {rate}，低于 {target} 的目标"
        "（{decided} 张中违约 {breached} 张）。",
        "attainment_fell": "{metric}服务级别协议达成率由 {previous} 的 {before} 降至 {rate}。",
        "fcr_below": "一次解决率为 {rate}，低于 {target} 的目标。",
        "solved_24h_below": "已解决工单中首次响应后 24 小时内解决的仅占 {rate}（目标 {target}）。",
        "reopen_above": "重开率为 {rate}，高于 {target} 的上限。",
        "satisfaction_below": "客户满意度平均分为 {score}，低于 {target} 的目标"
        "（共 {surveyed} 份调查）。",
        "complaints": "共收到 {count} 起投诉，涉及 {tickets} 张工单。",
        "callback_below": "满意度回访按时完成率为 {rate}，低于 {target} 的目标"
        "（{decided} 次中超时 {breached} 次）。",
        "backlog_rising": "积压已连续 {months} 个月上升，由 {before} 张增至 {after} 张。",
        "mttr_rising": "平均修复时间由 {previous} 的 {before} 升至 {after}。",
        "all_on_target": "服务级别协议达成率、一次解决率和客户满意度均达到目标。",
    },
}

_TEXT: dict[Lang, dict[str, str]] = {"en": _EN, "zh": _ZH}


def check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        raise InputError("lang", f"{lang!r} is not one of {', '.join(LANGS)}")
    return lang


def text(lang: Lang, key: str, **params: Any) -> str:
    """A label of the edition, with ``{placeholders}`` filled in."""
    words = _TEXT[lang][key]
    return words.format(**params) if params else words


def pct(rate: float | None) -> str:
    """A rate as a percentage with one decimal: ``95.6%``."""
    return NONE if rate is None else f"{rate * 100:.1f}%"


def score(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def duration(seconds: float | None, lang: Lang) -> str:
    """Whole minutes under an hour, hours with one decimal under two days, then days."""
    if seconds is None:
        return NONE
    if seconds < 3600:
        return f"{seconds / 60:.0f} {text(lang, 'min')}"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} {text(lang, 'h')}"
    return f"{seconds / 86400:.1f} {text(lang, 'd')}"


def finding(lang: Lang, code: str, params: Mapping[str, Any]) -> str:
    """One finding in the edition's words; ``params`` are already formatted figures, except
    ``metric``, which is a metric name and is translated here."""
    shown = dict(params)
    if "metric" in shown:
        shown["metric"] = text(lang, shown["metric"])
    return _FINDINGS[lang][code].format(**shown)
