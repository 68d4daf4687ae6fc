// Swagger UI for /openapi.json, started from a file rather than an inline script so that the
// page's Content-Security-Policy can forbid inline scripts (pe_portal/web/docs.py).
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    showExtensions: true,
    showCommonExtensions: true,
  });
});
