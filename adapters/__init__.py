"""Adapters that translate outside systems into commands (email, JIRA, monitoring, Kafka, HTTP)."""
