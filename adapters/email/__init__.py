"""Email adapter (inbound mail, outbound notifications)."""
