"""The notifications page: everything the bell has said, with filters, for the signed-in user."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from helpdesk.core.events import commit
from helpdesk.core.urls import page_number
from helpdesk.extensions import db
from helpdesk.notifications import service
from helpdesk.notifications.forms import NotificationPreferencesForm
from helpdesk.notifications.models import NOTIFICATION_TYPES, Notifications
from helpdesk.notifications.preferences import PREFERENCES, update_preferences
from helpdesk.notifications.webpush import public_key
from helpdesk.users.snapshot import signed_in_row

bp = Blueprint("notification_pages", __name__, url_prefix="/notifications")
bp.before_request(login_required(lambda: None))

PER_PAGE = 25


@bp.get("")
def notifications_page() -> str:
    """The user's notifications, newest first, optionally unread only or of one type."""
    unread_only = request.args.get("show") == "unread"
    kind = request.args.get("type") if request.args.get("type") in NOTIFICATION_TYPES else None
    query = select(Notifications).where(Notifications.user_id == current_user.id)
    if unread_only:
        query = query.where(Notifications.is_read.is_(False))
    if kind:
        query = query.where(Notifications.type == kind)
    page = db.paginate(
        query.order_by(Notifications.id.desc()),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "notifications/list.html",
        page=page,
        unread_only=unread_only,
        kind=kind,
        types=NOTIFICATION_TYPES,
        unread_count=service.unread_count(current_user.id),
    )


@bp.post("/<int:notification_id>/read")
def read(notification_id: int) -> Response:
    """Mark one of one's notifications read from the page."""
    if not service.mark_read(current_user.id, notification_id):
        abort(404)
    commit()
    return redirect(url_for(".notifications_page"))


@bp.post("/read-all")
def read_all() -> Response:
    """Mark all of one's notifications read from the page."""
    service.mark_all_read(current_user.id)
    service.note_check(signed_in_row(current_user))
    commit()
    flash(_("All notifications marked as read"), "success")
    return redirect(url_for(".notifications_page"))


@bp.route("/preferences", methods=["GET", "POST"])
def preferences() -> Response | str | tuple[str, int]:
    """The three notification switches; browser push is switched by the page's script."""
    form = NotificationPreferencesForm(obj=current_user)
    if request.method == "POST":
        if not form.validate():
            return _render_preferences(form), 422
        update_preferences(
            signed_in_row(current_user), {name: form[name].data for name in PREFERENCES}
        )
        commit()
        flash(_("Notification preferences saved."), "success")
        return redirect(url_for(".preferences"))
    return _render_preferences(form)


def _render_preferences(form: NotificationPreferencesForm) -> str:
    """The preferences page; without a VAPID key the push switch is shown as unavailable, and
    without a mail server the e-mail switch says that nothing is sent."""
    return render_template(
        "notifications/preferences.html",
        form=form,
        push_available=public_key(current_app) is not None,
        mail_available=bool(current_app.config["MAIL_SERVER"]),
    )
