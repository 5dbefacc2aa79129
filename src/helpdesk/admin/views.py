"""Admin pages: list users, set their permission flags, read the request metrics."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from helpdesk.core.decorators import admin_required
from helpdesk.core.errors import APIException, wants_json_response
from helpdesk.core.metrics import cache_counts
from helpdesk.core.models import escape_like
from helpdesk.core.urls import page_number
from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.feed import feed_outage
from helpdesk.users import service
from helpdesk.users.forms import PermissionsForm
from helpdesk.users.models import PERMISSION_FLAGS, User
from helpdesk.users.views import form_errors

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PER_PAGE = 50


@bp.get("/users")
@admin_required
def users() -> str:
    """All users, searchable by name, username or e-mail."""
    query = select(User).order_by(User.username)
    search = (request.args.get("q") or "").strip()
    if search:
        pattern = f"%{escape_like(search.lower())}%"
        query = query.where(
            or_(
                func.lower(User.username).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
            )
        )
    page = page_number()
    users_page = db.paginate(query, page=page, per_page=USERS_PER_PAGE, error_out=False)
    return render_template(
        "admin/users.html",
        users=users_page,
        search=search,
        flags=PERMISSION_FLAGS,
        form=PermissionsForm(formdata=None),
        feed_outage=feed_outage(get_backend().name),
    )


@bp.post("/users/<int:user_id>")
@admin_required
def update_user(user_id: int) -> Response:
    """Set one user's permission flags."""
    user = db.get_or_404(User, user_id)
    form = PermissionsForm()
    if not form.validate():
        return form_errors(form)
    sent = request.get_json(silent=True) if request.is_json else None
    if sent is not None:
        _require_boolean_flags(sent)
    flags = {
        flag: getattr(form, flag).data
        for flag in PERMISSION_FLAGS
        if sent is None or flag in sent  # JSON clients may send only the flags they change
    }
    service.set_permissions(user, flags, current_user)
    db.session.commit()
    message = _("Permissions of %(name)s saved.", name=user.username)
    if wants_json_response():
        return jsonify({"success": True, "message": message, "data": user.to_dict()})
    flash(message, "success")
    return redirect(url_for("admin.users", q=request.args.get("q") or None))


def _require_boolean_flags(sent: dict[str, object]) -> None:
    """JSON flags must be true or false: 0 or "no" would otherwise read as a grant."""
    wrong = [flag for flag in PERMISSION_FLAGS if flag in sent and not isinstance(sent[flag], bool)]
    if wrong:
        raise APIException(
            _("Permission flags must be true or false."),
            422,
            {"errors": {flag: [_("Must be true or false.")] for flag in wrong}},
        )


@bp.get("/metrics")
@admin_required
def performance_metrics() -> Response:
    """The seed's per-endpoint timing figures, and each cache's hits and misses under `caches`."""
    figures = current_app.extensions["performance_monitor"].get_metrics()
    return jsonify({**figures, "caches": cache_counts()})
