// The Kanban board: columns load page by page from the task API; a drop, or a choice in a card's
// "Move to" menu (the keyboard's way), asks the server to change the status, and a refused move
// snaps back with the server's message.
(function () {
  "use strict";

  var board = document.getElementById("kanban-board");
  if (!board) { return; }
  var filters = document.getElementById("board-filters");
  var pageSize = parseInt(board.dataset.columnSize, 10) || 30;
  var columns = Array.prototype.slice.call(board.querySelectorAll(".kanban-column"));
  // The API gives priority names as stored; the page says how to show them in this language.
  var priorityLabels = JSON.parse(board.dataset.priorityLabels || "{}");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function toast(message) { window.Helpdesk.toast(message, "danger"); }

  // Today in the page's zone (YYYY-MM-DD, as the API writes due dates), for overdue cards.
  var today = new Intl.DateTimeFormat("en-CA", {
    timeZone: document.documentElement.dataset.timezone
  }).format(new Date());

  // Filters live in the address, so a reload, a bookmark or a shared link shows the same board.
  var shown = new URLSearchParams(window.location.search);
  Array.prototype.forEach.call(filters.elements, function (field) {
    var value = shown.get(field.name);
    if (value !== null && field.querySelector('option[value="' + CSS.escape(value) + '"]')) {
      field.value = value;
    }
  });

  function keepFiltersInAddress() {
    var params = new URLSearchParams(new FormData(filters));
    window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  }

  function card(task) {
    var node = el("article", "kanban-card card mb-2 shadow-sm");
    node.dataset.taskId = task.id;
    var body = el("div", "card-body p-2");
    var link = el("a", "stretched-link text-decoration-none fw-semibold small", "#" + task.id + " " + task.subject);
    link.href = board.dataset.taskUrl.replace(/0$/, String(task.id));
    body.appendChild(link);
    var meta = el("div", "small text-muted d-flex justify-content-between mt-1 gap-2");
    meta.appendChild(el("span", "kanban-priority priority-" + task.priority_id, priorityLabels[task.priority] || task.priority));
    meta.appendChild(el("span", "text-truncate", task.assigned_to || board.dataset.msgUnassigned));
    body.appendChild(meta);
    if (task.due_date) {
      var overdue = !task.is_closed && task.due_date < today;
      var due = el("div", "small " + (overdue ? "text-danger fw-semibold kanban-overdue" : "text-muted"),
        board.dataset.msgDue + ": " + task.due_date + (overdue ? " · " + board.dataset.msgOverdue : ""));
      body.appendChild(due);
      if (overdue) { node.classList.add("border-danger"); }
    }
    node.appendChild(body);
    node.appendChild(moveMenu(task));
    return node;
  }

  // A native select: reachable by Tab, read by screen readers, changed with the arrow keys.
  function moveMenu(task) {
    var holder = el("div", "kanban-move px-2 pb-2");
    var menu = el("select", "form-select form-select-sm");
    menu.setAttribute("aria-label", board.dataset.msgMove.replace("%(id)s", String(task.id)));
    var prompt = el("option", "", board.dataset.msgMoveTo);
    prompt.value = "";
    menu.appendChild(prompt);
    columns.forEach(function (column) {
      var option = el("option", "", column.querySelector("header span").firstChild.textContent.trim());
      option.value = column.dataset.statusId;
      menu.appendChild(option);
    });
    menu.addEventListener("change", function () {
      var target = board.querySelector('.kanban-cards[data-status-id="' + menu.value + '"]');
      var item = menu.closest(".kanban-card");
      var from = item.parentElement;
      menu.value = "";
      if (!target || target === from) { return; }
      var oldIndex = Array.prototype.indexOf.call(from.children, item);
      target.insertBefore(item, target.firstChild);
      moveStatus({ item: item, from: from, to: target, oldIndex: oldIndex });
      menu.focus();
    });
    holder.appendChild(menu);
    return holder;
  }

  // Moves are told to screen readers too, not only shown.
  var announcer = document.getElementById("kanban-announcer");
  function announce(message) { if (announcer) { announcer.textContent = message; } }

  function query(column, page) {
    var params = new URLSearchParams(new FormData(filters));
    params.set("status", column.dataset.statusName);
    if (column.dataset.closed === "true") { params.set("closed_days", board.dataset.closedDays); }
    params.set("per_page", String(pageSize));
    params.set("page", String(page));
    params.set("sort", "-priority,-updated_on");
    return board.dataset.api + "?" + params.toString();
  }

  // Each change of the filters starts a new generation; answers to older requests, which may
  // arrive after newer ones, are dropped so a column never shows a stale filter's cards.
  var generation = 0;

  function load(column, page) {
    var cards = column.querySelector(".kanban-cards");
    var more = column.querySelector(".kanban-more");
    var asked = generation;
    return fetch(query(column, page), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (result) {
        if (asked !== generation) { return; }
        if (!result.ok) { toast(result.body.message || board.dataset.msgFailed); return; }
        var doc = result.body.data;
        if (page === 1) { cards.textContent = ""; }
        doc.tasks.forEach(function (t) { cards.appendChild(card(t)); });
        column.dataset.page = String(page);
        column.dataset.total = String(doc.pagination.total);
        column.querySelector(".kanban-count").textContent = String(doc.pagination.total);
        more.classList.toggle("d-none", page >= doc.pagination.pages);
      });
  }

  function reloadAll() {
    generation += 1;
    columns.forEach(function (c) { load(c, 1); });
  }

  function adjustCount(column, delta) {
    var total = parseInt(column.dataset.total || "0", 10) + delta;
    column.dataset.total = String(total);
    column.querySelector(".kanban-count").textContent = String(total);
  }

  function moveStatus(evt) {
    if (evt.from === evt.to) { return; }
    var item = evt.item;
    var fromColumn = evt.from.closest(".kanban-column");
    var toColumn = evt.to.closest(".kanban-column");
    var url = board.dataset.statusUrl.replace(/\/0\/status$/, "/" + item.dataset.taskId + "/status");
    adjustCount(fromColumn, -1);
    adjustCount(toColumn, 1);
    item.classList.add("opacity-50");
    fetch(url, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ status_id: parseInt(evt.to.dataset.statusId, 10) })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (result) {
      item.classList.remove("opacity-50");
      if (!result.ok) {
        evt.from.insertBefore(item, evt.from.children[evt.oldIndex] || null);
        adjustCount(fromColumn, 1);
        adjustCount(toColumn, -1);
        toast(result.body.message || board.dataset.msgFailed);
        announce(result.body.message || board.dataset.msgFailed);
        return;
      }
      announce(board.dataset.msgMoved.replace("%(id)s", item.dataset.taskId)
        .replace("%(status)s", toColumn.querySelector("header span").firstChild.textContent.trim()));
    }).catch(function () {
      item.classList.remove("opacity-50");
      evt.from.insertBefore(item, evt.from.children[evt.oldIndex] || null);
      adjustCount(fromColumn, 1);
      adjustCount(toColumn, -1);
      toast(board.dataset.msgFailed);
    });
  }

  columns.forEach(function (column) {
    var cards = column.querySelector(".kanban-cards");
    window.Sortable.create(cards, { group: "kanban", animation: 150, onEnd: moveStatus });
    column.querySelector(".kanban-more").addEventListener("click", function () {
      load(column, parseInt(column.dataset.page || "1", 10) + 1);
    });
  });
  // Another user moved a task: move its card here too, if this board shows it.
  document.addEventListener("helpdesk:task-status-changed", function (event) {
    var move = event.detail;
    var item = board.querySelector('.kanban-card[data-task-id="' + move.task_id + '"]');
    var target = board.querySelector('.kanban-cards[data-status-id="' + move.new_status_id + '"]');
    if (!item || !target || item.parentElement === target) { return; }
    adjustCount(item.closest(".kanban-column"), -1);
    target.insertBefore(item, target.firstChild);
    adjustCount(target.closest(".kanban-column"), 1);
  });
  filters.addEventListener("change", function () { keepFiltersInAddress(); reloadAll(); });
  board.addEventListener("kanban:reload", reloadAll);
  reloadAll();
})();
