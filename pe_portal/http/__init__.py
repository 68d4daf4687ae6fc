"""What every router shares, below the features: the request's unit of work, settings, context
and principal as FastAPI dependencies, and the API's path prefix. It knows no feature: the app
(`pe_portal.web`) puts on `app.state` what these dependencies hand out."""

from starlette.types import Scope

API_PREFIX = "/api/v1"


def nul_in_address(scope: Scope) -> bool:
    """A NUL character in the path or the query string: PostgreSQL's text cannot hold one, so
    no id, token or search with it can be looked for (the driver refuses to send it)."""
    return "\x00" in scope["path"] or b"%00" in scope["query_string"]
