// Boots the vendored Swagger UI on the API reference page (a file, not an inline script: CSP).
(function () {
  "use strict";
  const holder = document.getElementById("api-reference");
  if (!holder || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({ url: holder.dataset.url, domNode: holder, deepLinking: true });
})();
