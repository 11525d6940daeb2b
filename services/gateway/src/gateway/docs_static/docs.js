// Swagger UI on this gateway's /openapi.json. "Authorize" takes the access token from
// POST /v1/auth/login; "Try it out" then calls the API from this page (same origin).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    validatorUrl: null, // the public validator would be a call to another site
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
