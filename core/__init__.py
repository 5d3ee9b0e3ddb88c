"""Core application: commands, handlers, the Engine service, persistence seams."""
