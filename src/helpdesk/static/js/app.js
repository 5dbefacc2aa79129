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

// Times as the server writes them (core/filters.py local_datetime): the short form of the
// page's language, in the reader's zone, both given by the page, never the browser's own.
window.Helpdesk = window.Helpdesk || {};
window.Helpdesk.formatTime = function (iso) {
  "use strict";
  var root = document.documentElement;
  return new Intl.DateTimeFormat(root.lang, {
    dateStyle: "short", timeStyle: "short", timeZone: root.dataset.timezone
  }).format(new Date(iso));
};

// Toasts for any page: text only (never HTML), dismissed by a click or after a few seconds.
window.Helpdesk.toast = function (message, kind, link) {
  "use strict";
  var area = document.getElementById("toast-area");
  if (!area) { return; }
  var box = document.createElement("div");
  box.className = "toast show align-items-center text-bg-" + (kind || "danger") + " border-0";
  box.setAttribute("role", "alert");
  var row = document.createElement("div");
  row.className = "d-flex";
  var body = document.createElement(link ? "a" : "div");
  body.className = "toast-body flex-grow-1" + (link ? " text-reset text-decoration-none" : "");
  if (link) { body.href = link; }
  body.textContent = String(message);
  row.appendChild(body);
  var close = document.createElement("button");
  close.type = "button";
  close.className = "btn-close btn-close-white me-2 m-auto";
  close.setAttribute("aria-label", area.dataset.msgClose || "Close");
  close.addEventListener("click", function () { box.remove(); });
  row.appendChild(close);
  box.appendChild(row);
  area.appendChild(box);
  setTimeout(function () { box.remove(); }, 6000);
};
