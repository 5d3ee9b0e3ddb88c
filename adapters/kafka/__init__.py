"""The Kafka bridge: command envelopes in, a worker that records them, a publisher of events."""
