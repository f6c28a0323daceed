"""Integrations with the frameworks chat assistants are built on (FastAPI, Django and
Channels, logging, OpenTelemetry). Each module imports its framework lazily."""
