// ReDoc for /openapi.json, started from a file (no inline script: see pe_portal/web/docs.py).
window.addEventListener("DOMContentLoaded", function () {
  Redoc.init("/openapi.json", { disableSearch: false }, document.getElementById("redoc"));
});
