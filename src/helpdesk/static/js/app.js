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
// The one rule for a zone's label: a time carries it ("GMT+03:00") when the browser's own clock
// stands at another offset at that moment, where the reader could take it for their own time;
// its title then says the time on the browser's clock. E-mails always carry it (the server's
// labelled_datetime writes the same label).
window.Helpdesk = window.Helpdesk || {};
window.Helpdesk.offsetLabel = function (date, zone) {
  "use strict";
  var parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
    .formatToParts(date);
  var name = parts.filter(function (part) { return part.type === "timeZoneName"; })[0].value;
  return name === "GMT" ? "GMT+00:00" : name;  // Babel writes UTC's offset in full
};
window.Helpdesk.zoneLabel = function (date) {
  "use strict";
  var label = window.Helpdesk.offsetLabel(date, document.documentElement.dataset.timezone);
  return label === window.Helpdesk.offsetLabel(date, undefined) ? "" : label;
};
window.Helpdesk.formatTime = function (iso) {
  "use strict";
  var root = document.documentElement;
  var date = new Date(iso);
  var text = new Intl.DateTimeFormat(root.lang, {
    dateStyle: "short", timeStyle: "short", timeZone: root.dataset.timezone
  }).format(date);
  var label = window.Helpdesk.zoneLabel(date);
  return label ? text + " " + label : text;
};

// The server's times get the label by the same rule, also those a page swaps in later.
(function () {
  "use strict";
  function label(root) {
    var selector = "time.local-time:not([data-zone])";
    if (!root.querySelectorAll) { return; }
    var times = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) { times.push(root); }
    times.forEach(function (time) {
      var date = new Date(time.getAttribute("datetime"));
      var zone = window.Helpdesk.zoneLabel(date);
      time.dataset.zone = zone || "same";
      if (!zone) { return; }
      var tag = document.createElement("span");
      tag.className = "time-zone";
      tag.textContent = zone;
      time.append(" ", tag);
      time.title = new Intl.DateTimeFormat(document.documentElement.lang, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        timeZoneName: "short"
      }).format(date);
    });
  }
  label(document);
  new MutationObserver(function (changes) {
    changes.forEach(function (change) { change.addedNodes.forEach(label); });
  }).observe(document.body, { childList: true, subtree: true });
})();

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
