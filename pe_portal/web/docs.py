"""`/docs` (Swagger UI) and `/redoc`, served from files in pinned packages: no CDN, so they work
on an air-gapped network. The pages load only this server's files, and their
Content-Security-Policy says so (no inline script; styles inline only as the viewers set them)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VIEWERS = Path(str(files("fastapi_offline") / "static"))  # Swagger UI 5, ReDoc 2
OURS = Path(__file__).with_name("static") / "docs"
ASSETS = "/docs-assets"

# Both viewers set element styles from script; ReDoc starts its search in a blob: worker.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{assets}/viewers/favicon.png">
{head}
</head>
<body>
<div id="{root}"></div>
<script src="{assets}/viewers/{bundle}"></script>
<script src="{assets}/{init}"></script>
</body>
</html>
"""


def _page(title: str, *, head: str, root: str, bundle: str, init: str) -> HTMLResponse:
    html = _PAGE.format(title=title, assets=ASSETS, head=head, root=root, bundle=bundle, init=init)
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY})


def install(app: FastAPI) -> None:
    """The two pages and the files they load (the app is built with docs_url=None)."""
    app.mount(f"{ASSETS}/viewers", StaticFiles(directory=VIEWERS), name="docs-viewers")
    app.mount(ASSETS, StaticFiles(directory=OURS), name="docs-assets")
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        stylesheet = f'<link rel="stylesheet" href="{ASSETS}/viewers/swagger-ui.css">'
        return _page(title, head=stylesheet, root="swagger-ui", bundle="swagger-ui-bundle.js",
                     init="swagger-init.js")  # fmt: skip

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(title, head="", root="redoc", bundle="redoc.standalone.js",
                     init="redoc-init.js")  # fmt: skip
