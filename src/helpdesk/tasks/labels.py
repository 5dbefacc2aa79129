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
