"""The monitoring adapter as an ordinary plugin: ``opsledger_adapters``, enabled by settings.

Registered through the ``opsledger`` entry-point group like any third-party plugin
(``monitoring = "opsledger.adapters.monitoring.plugin"``). It contributes nothing unless
``OPSLEDGER_MONITORING_ENABLED`` (or ``enabled`` in the ``OPSLEDGER_MONITORING_CONFIG`` file)
says so; invalid settings raise, and the plugin host warns and skips them.
"""

from __future__ import annotations

from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.adapters.monitoring.settings import MonitoringSettings
from opsledger.plugins import hookimpl


@hookimpl
def opsledger_adapters() -> list[MonitoringAdapter]:
    """The receivers, when enabled: cheap to build, nothing connects until a request comes."""
    settings = MonitoringSettings.from_env()
    return [MonitoringAdapter(settings)] if settings.enabled else []
