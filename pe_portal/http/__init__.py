"""What every router shares, below the features: the request's unit of work, settings, context
and principal as FastAPI dependencies, and the API's path prefix. It knows no feature: the app
(`pe_portal.web`) puts on `app.state` what these dependencies hand out."""

API_PREFIX = "/api/v1"
