"""The HTTP API and dashboard: one ASGI app (FastAPI) that adapters' receivers mount into."""
