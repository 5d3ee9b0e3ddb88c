"""The monitoring adapter: Alertmanager, Grafana and PagerDuty alerts become inbound events."""
