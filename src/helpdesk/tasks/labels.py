"""Display names for the default statuses, priorities, trackers and roles in the user's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

DEFAULT_LABELS = {
    "New": _l("New"),
    "In Progress": _l("In Progress"),
    "Resolved": _l("Resolved"),
    "Feedback": _l("Feedback"),
    "Closed": _l("Closed"),
    "Rejected": _l("Rejected"),
    "Low": _l("Low"),
    "Normal": _l("Normal"),
    "High": _l("High"),
    "Urgent": _l("Urgent"),
    "Immediate": _l("Immediate"),
    "Bug": _l("Bug"),
    "Feature": _l("Feature"),
    "Support": _l("Support"),
    "Manager": _l("Manager"),
    "Developer": _l("Developer"),
    "Reporter": _l("Reporter"),
}


def label(name: str | None) -> str:
    """A default lookup name translated; names from Redmine or admins are shown as they are."""
    if not name:
        return ""
    return str(DEFAULT_LABELS.get(name, name))


FIELD_LABELS = {
    "subject": _l("Subject"),
    "description": _l("Description"),
    "status_id": _l("Status"),
    "assigned_to_id": _l("Assignee"),
    "priority_id": _l("Priority"),
    "tracker_id": _l("Tracker"),
    "start_date": _l("Start date"),
    "due_date": _l("Due date"),
    "estimated_hours": _l("Estimated hours"),
    "done_ratio": _l("Done"),
    "watcher": _l("Watcher"),
}


def field_label(prop_key: str, custom_names: dict[int, str] | None = None) -> str:
    """A journal detail's field in the reader's language; a custom field (cf_<id>) by its
    name, which admins chose and is shown as it is."""
    if prop_key.startswith("cf_") and prop_key[3:].isdigit():
        return (custom_names or {}).get(int(prop_key[3:]), prop_key)
    return str(FIELD_LABELS.get(prop_key, prop_key))
