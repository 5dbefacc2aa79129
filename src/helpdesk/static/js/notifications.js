// The notification bell: live over Socket.IO, caught up from the API after every (re)connect,
// so a dropped connection loses nothing. Server text is inserted as text, never as HTML.
// Users who turned the bell off still get live status changes (boards, lists, task pages).
(function () {
  "use strict";

  var bell = document.getElementById("notification-bell");
  if (!window.io) { return; }
  var api = bell && bell.dataset.api;
  var counter = document.getElementById("notification-counter");
  var list = document.getElementById("notifications-list");
  var shown = 10;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function taskUrl(id) { return bell.dataset.taskUrl.replace(/0$/, String(id)); }

  function setCount(count) {
    counter.textContent = count > 99 ? "99+" : String(count);
    counter.classList.toggle("d-none", !count);
  }

  function request(method, url) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" }
    }).then(function (r) { return r.json(); });
  }

  function markRead(item, node) {
    return request("PUT", api + "/" + item.id + "/read").then(function (body) {
      if (body.success) {
        node.classList.remove("unread");
        setCount(body.data.unread_count);
      }
    });
  }

  function entry(item) {
    var node = el("a", "dropdown-item notification-item text-wrap" + (item.is_read ? "" : " unread"));
    node.href = item.issue_id ? taskUrl(item.issue_id) : "#";
    node.dataset.notificationId = item.id;
    node.appendChild(el("div", "fw-semibold small", item.title));
    node.appendChild(el("div", "small", item.message));
    node.appendChild(el("div", "small text-muted notification-time", window.Helpdesk.formatTime(item.created_at)));
    node.addEventListener("click", function (event) {
      if (item.is_read) { return; }
      event.preventDefault();
      markRead(item, node).finally(function () { window.location.href = node.href; });
    });
    return node;
  }

  function render(items) {
    list.textContent = "";
    if (!items.length) { list.appendChild(el("div", "px-3 py-2 small text-muted", bell.dataset.msgEmpty)); }
    items.slice(0, shown).forEach(function (item) { list.appendChild(entry(item)); });
  }

  function catchUp() {
    return request("GET", api + "?limit=" + shown).then(function (body) {
      if (!body.success) { return; }
      render(body.data.notifications);
      setCount(body.data.unread_count);
    });
  }

  if (bell) {
    document.getElementById("notifications-mark-all").addEventListener("click", function () {
      request("PUT", api + "/read-all").then(function () { setCount(0); catchUp(); });
    });
  }

  // Pages that show projects' tasks (the board, a task page) name them in data-live-projects;
  // the socket joins those projects' rooms (the server checks membership) after every connect,
  // since a reconnected socket is in no room but its user's own.
  function joinProjects() {
    document.querySelectorAll("[data-live-projects]").forEach(function (node) {
      JSON.parse(node.dataset.liveProjects).forEach(function (id) {
        socket.emit("join_project", { project_id: id });
      });
    });
  }

  var socket = window.io("/notifications", { transports: ["websocket"] });
  socket.on("connect", function () {
    joinProjects();
    if (!bell) { return; }  // the server joined this user's room on connect
    socket.emit("join_notifications", { user_id: parseInt(bell.dataset.userId, 10) });
    catchUp();
  });
  // The server's message queue came back after an outage: events sent meanwhile may have missed
  // this page, so reconnect, which joins the rooms again and catches up from the API. Several
  // server processes each say so; one reconnect is enough.
  var lastResync = 0;
  socket.on("resync", function () {
    if (Date.now() - lastResync < 10000) { return; }
    lastResync = Date.now();
    socket.disconnect().connect();
  });
  socket.on("new_notification", function (data) {
    if (!bell) { return; }
    setCount(data.unread_count);
    var empty = list.querySelector(".text-muted:only-child");
    if (empty) { empty.remove(); }
    list.insertBefore(entry(data), list.firstChild);
    while (list.children.length > shown) { list.removeChild(list.lastChild); }
    window.Helpdesk.toast(data.title + ": " + data.message, "primary",
      data.issue_id ? taskUrl(data.issue_id) : null);
  });
  // The event names statuses as stored; the page knows each id's label in its own language.
  function showStatus(badge, data) {
    var holder = badge.closest("[data-status-labels]");
    var known = holder && JSON.parse(holder.dataset.statusLabels)[data.new_status_id];
    badge.textContent = known ? known.label : data.new_status;
    if (known) {
      badge.className = badge.className.replace(/\btext-bg-\S+/, "text-bg-" + known.color);
    }
  }

  socket.on("task_status_changed", function (data) {
    document.querySelectorAll('[data-task-id="' + data.task_id + '"] .task-status').forEach(
      function (badge) { showStatus(badge, data); }
    );
    document.dispatchEvent(new CustomEvent("helpdesk:task-status-changed", { detail: data }));
  });
  // A task's fields or history changed (ids only): its open page reads it again.
  socket.on("task_changed", function (data) {
    document.dispatchEvent(new CustomEvent("helpdesk:task-changed", { detail: data }));
  });
})();
