"""The console's routes and files, mounted on the API's app (`web.app`)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from pe_portal.console import account, activity, devices, enrolment, security, sign_in

STATIC_PATH = "/account/static"
# Where a browser gets pages rather than JSON: the console and the links the mails hold.
PAGE_PREFIXES = ("/account", "/verify-email", "/reset-password")


def serves(path: str) -> bool:
    return path.startswith(PAGE_PREFIXES)


def install(app: FastAPI) -> None:
    for module in (sign_in, enrolment, account, devices, security, activity):
        app.include_router(module.router)
    static = StaticFiles(packages=[("pe_portal.console", "static")])
    app.mount(STATIC_PATH, static, name="console-static")
