// @mentions: in a textarea marked js-mentions, typing @ and the start of a name offers the
// project's members (data-mention-url answers ?q=); a choice inserts @username. Names are
// inserted as text, never as HTML.
(function () {
  "use strict";

  var box = null;
  var target = null;
  var people = [];
  var active = 0;
  var timer = null;
  var asked = 0;

  function close() {
    if (box) { box.remove(); }
    box = null;
    people = [];
  }

  // The name being typed: what follows an @ at a word's start, up to the caret.
  function typed(area) {
    var before = area.value.slice(0, area.selectionStart);
    var found = /(?:^|[\s(,;:])@([A-Za-z0-9_.-]{0,60})$/.exec(before);
    return found ? found[1] : null;
  }

  function pick(area, person) {
    var caret = area.selectionStart;
    var before = area.value.slice(0, caret);
    var start = before.lastIndexOf("@");
    area.value = before.slice(0, start) + "@" + person.username + " " + area.value.slice(caret);
    var after = start + person.username.length + 2;
    area.setSelectionRange(after, after);
    area.focus();
    close();
  }

  function highlight() {
    Array.prototype.forEach.call(box.children, function (item, index) {
      item.classList.toggle("active", index === active);
      item.setAttribute("aria-selected", index === active ? "true" : "false");
    });
  }

  function show(area, found) {
    close();
    if (!found.length) { return; }
    box = document.createElement("div");
    box.className = "list-group shadow-sm mention-list mb-2";
    box.setAttribute("role", "listbox");
    found.forEach(function (person) {
      var item = document.createElement("button");
      item.type = "button";
      item.className = "list-group-item list-group-item-action py-1 small";
      item.setAttribute("role", "option");
      item.dataset.username = person.username;
      item.textContent = person.name + " (@" + person.username + ")";
      item.addEventListener("mousedown", function (event) {
        event.preventDefault();
        pick(area, person);
      });
      box.appendChild(item);
    });
    area.insertAdjacentElement("afterend", box);
    people = found;
    target = area;
    active = 0;
    highlight();
  }

  document.addEventListener("input", function (event) {
    var area = event.target;
    if (!area.classList || !area.classList.contains("js-mentions") || !area.dataset.mentionUrl) {
      return;
    }
    var name = typed(area);
    clearTimeout(timer);
    if (name === null) { close(); return; }
    var mine = ++asked;
    timer = setTimeout(function () {
      fetch(area.dataset.mentionUrl + "?q=" + encodeURIComponent(name), {
        credentials: "same-origin", headers: { Accept: "application/json" }
      }).then(function (r) { return r.json(); }).then(function (body) {
        if (mine === asked && body.success) { show(area, body.data); }
      }).catch(close);
    }, 150);
  });

  document.addEventListener("keydown", function (event) {
    if (!box || event.target !== target) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : people.length - 1)) % people.length;
      highlight();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      pick(target, people[active]);
    } else if (event.key === "Escape") {
      close();
    }
  });

  document.addEventListener("focusout", function (event) {
    if (event.target === target) { setTimeout(close, 200); }
  });
})();
