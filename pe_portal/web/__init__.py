"""The FastAPI application: wiring, dependencies, and the one error-to-HTTP mapping."""

API_PREFIX = "/api/v1"
