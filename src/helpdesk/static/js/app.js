// Page behaviour shared by every page; no inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  // Forms marked js-confirm ask before submitting (for example, deleting an announcement).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList && form.classList.contains("js-confirm")) {
      if (!window.confirm(form.getAttribute("data-confirm") || "?")) {
        event.preventDefault();
      }
    }
  });
})();
