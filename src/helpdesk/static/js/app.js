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

// Filter selects marked js-autosubmit apply as soon as they change.
document.addEventListener("change", function (event) {
  "use strict";
  var field = event.target;
  if (field.classList && field.classList.contains("js-autosubmit") && field.form) {
    field.form.submit();
  }
});
