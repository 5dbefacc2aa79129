// The task page: edit in place (PATCH with the lock_version the form was opened with), watchers,
// and live: a change by someone else reads the page again and swaps in the task's fields, history,
// watchers and allowed statuses. Server text goes in as text or as the server's own HTML.
(function () {
  "use strict";

  var page = document.getElementById("task-page");
  if (!page) { return; }
  var taskId = String(page.dataset.taskId);
  var LIVE = ["task-main", "task-fields", "journal-list", "task-watchers", "status-form"];
  var saving = false;

  function toast(message, kind) { window.Helpdesk.toast(message, kind || "danger"); }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { return { status: r.status, ok: r.ok, body: data }; });
    });
  }

  function form() { return document.getElementById("task-edit-form"); }
  function editing() { var f = form(); return f && !f.classList.contains("d-none"); }

  // Read the page again as this user and swap in what shows the task; text typed in a swapped
  // part is kept, and an open edit form is left as it is (saving it then shows the conflict).
  function refresh() {
    return fetch(window.location.pathname, {
      credentials: "same-origin", headers: { Accept: "text/html" }
    }).then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var parts = editing() ? LIVE : LIVE.concat(["task-edit-form"]);
      parts.forEach(function (id) {
        var now = document.getElementById(id);
        var next = fresh.getElementById(id);
        if (!now || !next) { return; }
        now.querySelectorAll("textarea[name]").forEach(function (area) {
          var twin = next.querySelector('textarea[name="' + area.name + '"]');
          if (twin && area.value) { twin.value = area.value; }
        });
        now.replaceWith(document.importNode(next, true));
      });
      var freshPage = fresh.getElementById("task-page");
      if (freshPage && !editing()) { page.dataset.lockVersion = freshPage.dataset.lockVersion; }
    });
  }

  function clearErrors(f) {
    f.querySelectorAll(".is-invalid").forEach(function (n) { n.classList.remove("is-invalid"); });
    f.querySelectorAll(".js-error").forEach(function (n) { n.remove(); });
    f.querySelector("#task-edit-conflict").classList.add("d-none");
  }

  function showErrors(f, errors) {
    Object.keys(errors || {}).forEach(function (key) {
      var field = f.querySelector('[name="' + key + '"]') || f.querySelector('[data-field="' + key + '"]');
      var note = document.createElement("div");
      note.className = "invalid-feedback d-block js-error";
      note.textContent = errors[key].join(" ");
      if (field) {
        field.classList.add("is-invalid");
        field.insertAdjacentElement("afterend", note);
      } else {
        f.querySelector("button[type=submit]").insertAdjacentElement("beforebegin", note);
      }
    });
  }

  function value(field) {
    var text = field.value;
    if (field.dataset.kind === "id") { return text === "" ? null : parseInt(text, 10); }
    if (field.dataset.kind === "number") { return text === "" ? null : Number(text); }
    if (field.dataset.kind === "integer") { return text === "" ? 0 : parseInt(text, 10); }
    if (field.type === "date") { return text || null; }
    return text;
  }

  // Only what the user changed since the form was opened is sent.
  function changes(f) {
    var body = {};
    var custom = [];
    f.querySelectorAll("[data-initial]").forEach(function (field) {
      if (field.value === field.dataset.initial) { return; }
      if (field.dataset.customField) {
        custom.push({ id: parseInt(field.dataset.customField, 10), value: field.value });
      } else {
        body[field.name] = value(field);
      }
    });
    if (custom.length) { body.custom_fields = custom; }
    var notes = f.querySelector("[name=notes]").value.trim();
    if (notes) { body.notes = notes; }
    return body;
  }

  function shown(field, current) {
    if (current === null || current === undefined || current === "") { return "—"; }
    if (field.tagName === "SELECT") {
      var option = field.querySelector('option[value="' + current + '"]');
      return option ? option.textContent : String(current);
    }
    return String(current);
  }

  // 409: what the other person changed, field by field, and their entry in the history; the
  // form keeps what this user typed and now stands on the task as it is, so saving again is a
  // deliberate overwrite.
  function showConflict(f, body) {
    var box = f.querySelector("#task-edit-conflict");
    box.textContent = "";
    var head = document.createElement("div");
    head.className = "fw-semibold";
    var who = body.last_change ? " (" + body.last_change.user_name + ")" : "";
    head.textContent = page.dataset.msgConflict + who;
    box.appendChild(head);
    var list = document.createElement("ul");
    list.className = "mb-0 small";
    var values = {};
    (body.task.custom_fields || []).forEach(function (c) { values["cf_" + c.id] = c.value; });
    f.querySelectorAll("[data-initial]").forEach(function (field) {
      var key = field.dataset.customField ? "cf_" + field.dataset.customField : field.name;
      var current = key in values ? values[key] : body.task[field.name];
      if (field.dataset.customField && !(key in values)) { current = ""; }
      var now = current === null || current === undefined ? "" : String(current);
      if (now === field.dataset.initial) { return; }
      var label = f.querySelector('label[for="' + field.id + '"]');
      var item = document.createElement("li");
      item.textContent = (label ? label.textContent : field.name) + ": " +
        shown(field, field.dataset.initial) + " → " + shown(field, now);
      list.appendChild(item);
      field.dataset.initial = now;
    });
    box.appendChild(list);
    box.classList.remove("d-none");
    page.dataset.lockVersion = String(body.task.lock_version);
  }

  function save(f) {
    clearErrors(f);
    var body = changes(f);
    if (!Object.keys(body).length) { close(f); return; }
    body.lock_version = parseInt(page.dataset.lockVersion, 10);
    saving = true;
    api("PATCH", page.dataset.editUrl, body).then(function (result) {
      if (result.ok) {
        f.classList.add("d-none");
        toast(page.dataset.msgSaved, "success");
        return refresh();
      }
      if (result.status === 409 && result.body.task) {
        showConflict(f, result.body);
        return refresh();
      }
      showErrors(f, result.body.errors || { "": [result.body.message || page.dataset.msgFailed] });
    }).catch(function () { toast(page.dataset.msgFailed); }).finally(function () {
      saving = false;
    });
  }

  function close(f) {
    clearErrors(f);
    f.classList.add("d-none");
    refresh();
  }

  function watch(method, userId) {
    var url = page.dataset.watchersUrl + (method === "DELETE" ? "/" + userId : "");
    var body = method === "DELETE" ? undefined : { user_id: userId };
    api(method, url, body).then(function (result) {
      if (!result.ok) { toast(result.body.message || page.dataset.msgFailed); }
      return refresh();
    });
  }

  document.addEventListener("click", function (event) {
    var node = event.target.closest("button");
    if (!node || !page.parentNode.contains(node)) { return; }
    var f = form();
    if (node.id === "task-edit-open" && f) {
      f.classList.remove("d-none");
      f.querySelector("[name=subject]").focus();
    } else if (node.id === "task-edit-cancel" && f) {
      close(f);
    } else if (node.id === "watch-toggle") {
      var me = parseInt(page.dataset.userId, 10);
      watch(node.dataset.watching === "true" ? "DELETE" : "POST", me);
    } else if (node.classList.contains("js-unwatch")) {
      watch("DELETE", parseInt(node.dataset.userId, 10));
    } else if (node.id === "watcher-add-button") {
      watch("POST", parseInt(document.getElementById("watcher-add").value, 10));
    }
  });

  document.addEventListener("submit", function (event) {
    if (event.target.id !== "task-edit-form") { return; }
    event.preventDefault();
    save(event.target);
  });

  // A form posted the classic way (the files form, a comment) is taking this page away: its own
  // change comes back as an event too, and reading the page now would take the message the
  // next page is to show.
  var leaving = false;
  window.addEventListener("submit", function (event) {
    if (!event.defaultPrevented) { leaving = true; }
  });
  window.addEventListener("pageshow", function () { leaving = false; });

  function changedElsewhere(event) {
    if (leaving || String(event.detail.task_id) !== taskId) { return; }
    if (!saving) { toast(page.dataset.msgChangedElsewhere, "info"); }
    refresh();
  }
  document.addEventListener("helpdesk:task-changed", changedElsewhere);
  document.addEventListener("helpdesk:task-status-changed", changedElsewhere);
})();
