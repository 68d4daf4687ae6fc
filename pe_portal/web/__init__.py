"""The FastAPI application: wiring, middleware, and the one error-to-HTTP mapping."""
