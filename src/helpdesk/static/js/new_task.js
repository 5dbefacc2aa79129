// The new-task form: the assignee is chosen among the chosen project's members only, and the
// description's @mentions offer that project's people.
(function () {
  "use strict";

  var project = document.getElementById("project_id");
  var assignee = document.getElementById("assigned_to_id");
  var description = document.getElementById("description");
  if (!project || !assignee) { return; }
  var members = JSON.parse(assignee.dataset.members || "{}");

  function follow() {
    var kept = assignee.value;
    var people = members[project.value] || [];
    while (assignee.options.length > 1) { assignee.remove(1); }
    people.forEach(function (person) {
      var option = new Option(person[1], String(person[0]));
      option.selected = String(person[0]) === kept;
      assignee.add(option);
    });
    if (description && description.dataset.mentionUrlTemplate) {
      description.dataset.mentionUrl =
        description.dataset.mentionUrlTemplate.replace(/\/0\/people$/, "/" + project.value + "/people");
    }
  }

  project.addEventListener("change", follow);
  follow();
})();
