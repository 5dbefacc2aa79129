"""Redmine 5's tables as the database reads need them: lightweight SQLAlchemy Core tables (no
metadata, never created or migrated by us), the same on MariaDB/MySQL, PostgreSQL and SQLite.
Dates, times and flags are typed, so SQLite's text dates and MySQL's 0/1 flags read as Python's."""

from __future__ import annotations

from sqlalchemy import Boolean, Date, DateTime, Float, column, table

issues = table(
    "issues",
    column("id"),
    column("tracker_id"),
    column("project_id"),
    column("subject"),
    column("description"),
    column("due_date", Date),
    column("status_id"),
    column("assigned_to_id"),
    column("priority_id"),
    column("author_id"),
    column("created_on", DateTime),
    column("updated_on", DateTime),
    column("start_date", Date),
    column("done_ratio"),
    column("estimated_hours", Float),
    column("is_private", Boolean),
    column("closed_on", DateTime),
)
projects = table(
    "projects",
    column("id"),
    column("name"),
    column("identifier"),
    column("is_public", Boolean),
    column("status"),
    column("lft"),
    column("rgt"),
)
enabled_modules = table("enabled_modules", column("project_id"), column("name"))
members = table("members", column("id"), column("user_id"), column("project_id"))
member_roles = table(
    "member_roles", column("id"), column("member_id"), column("role_id"), column("inherited_from")
)
roles = table(
    "roles",
    column("id"),
    column("name"),
    column("builtin"),
    column("permissions"),
    column("issues_visibility"),
    column("settings"),
    column("assignable"),
)
users = table(
    "users",
    column("id"),
    column("login"),
    column("firstname"),
    column("lastname"),
    column("admin", Boolean),
    column("status"),
    column("type"),
)
groups_users = table("groups_users", column("group_id"), column("user_id"))
trackers = table("trackers", column("id"), column("name"), column("position"))
issue_statuses = table(
    "issue_statuses", column("id"), column("name"), column("is_closed", Boolean), column("position")
)
enumerations = table(
    "enumerations",
    column("id"),
    column("name"),
    column("position"),
    column("is_default", Boolean),
    column("type"),
    column("active", Boolean),
    column("project_id"),
)
custom_fields = table(
    "custom_fields",
    column("id"),
    column("type"),
    column("name"),
    column("is_required", Boolean),
    column("is_for_all", Boolean),
    column("max_length"),
    column("visible", Boolean),
    column("multiple", Boolean),
    column("position"),
)
custom_fields_projects = table(
    "custom_fields_projects", column("custom_field_id"), column("project_id")
)
custom_fields_trackers = table(
    "custom_fields_trackers", column("custom_field_id"), column("tracker_id")
)
custom_fields_roles = table("custom_fields_roles", column("custom_field_id"), column("role_id"))
custom_values = table(
    "custom_values",
    column("id"),
    column("customized_type"),
    column("customized_id"),
    column("custom_field_id"),
    column("value"),
)
journals = table(
    "journals",
    column("id"),
    column("journalized_id"),
    column("journalized_type"),
    column("user_id"),
    column("notes"),
    column("private_notes", Boolean),
    column("created_on", DateTime),
)
journal_details = table(
    "journal_details",
    column("id"),
    column("journal_id"),
    column("property"),
    column("prop_key"),
    column("old_value"),
    column("value"),
)
watchers = table("watchers", column("watchable_type"), column("watchable_id"), column("user_id"))
settings = table("settings", column("name"), column("value"))
