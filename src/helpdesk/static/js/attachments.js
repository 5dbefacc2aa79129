// Files on a form (the task page's files form, templates/tasks/_attachments.html, and the
// new-task form): drop several files on the zone, or choose them; the names are listed (as text)
// and the form posts them with its other fields. A form with a submit button of its own for the
// files (files-submit) enables it only once files are chosen.
(function () {
  "use strict";
  var form = document.getElementById("files-form");
  if (!form) { return; }
  var zone = document.getElementById("files-drop");
  var input = document.getElementById("files-input");
  var chosen = document.getElementById("files-chosen");
  var submit = document.getElementById("files-submit");

  function showChosen() {
    chosen.replaceChildren();
    Array.prototype.forEach.call(input.files, function (file) {
      var item = document.createElement("li");
      var icon = document.createElement("i");
      icon.className = "fas fa-paperclip me-1";
      item.appendChild(icon);
      item.appendChild(document.createTextNode(file.name));
      chosen.appendChild(item);
    });
    if (submit) { submit.disabled = input.files.length === 0; }
  }

  function addFiles(files) {
    var all = new DataTransfer();
    Array.prototype.forEach.call(input.files, function (file) { all.items.add(file); });
    Array.prototype.forEach.call(files, function (file) { all.items.add(file); });
    input.files = all.files;
    showChosen();
  }

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("files-over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("files-over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      addFiles(event.dataTransfer.files);
    }
  });
  input.addEventListener("change", showChosen);
  if (submit) {
    form.addEventListener("submit", function () { submit.disabled = true; });
  }
})();
