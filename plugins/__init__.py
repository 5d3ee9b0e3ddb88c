"""Plugin hook specifications, the plugin manager and built-in plugins."""
