"""Plugin hook specifications, the plugin manager and built-in plugins."""

from opsledger.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
