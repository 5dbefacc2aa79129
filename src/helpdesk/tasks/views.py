"""Task pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.get("/my-tasks")
@login_required
def my_tasks() -> str:
    """The user's task list (the landing page after login)."""
    return render_template("tasks/my_tasks.html")
