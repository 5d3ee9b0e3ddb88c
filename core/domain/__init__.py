"""Pure domain model: aggregates, events, value objects, lifecycle and priority rules."""
