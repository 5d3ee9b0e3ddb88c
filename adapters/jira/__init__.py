"""JIRA adapter (two-way sync)."""
