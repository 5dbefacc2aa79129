"""Admin pages: list, add, lock, delete users and reset passwords, set their permission flags,
read the request metrics."""

from __future__ import annotations

from functools import partial

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from helpdesk.admin import service as accounts
from helpdesk.admin.schemas import AccountDoneOut, NewUserIn, PasswordResetIn, PermissionsIn
from helpdesk.auth.chain import providers
from helpdesk.core.decorators import admin_required
from helpdesk.core.errors import APIException, wants_json_response
from helpdesk.core.metrics import cache_counts
from helpdesk.core.models import escape_like
from helpdesk.core.openapi import documented
from helpdesk.core.urls import page_number
from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.feed import feed_outage
from helpdesk.users import password_reset, service
from helpdesk.users.forms import NewUserForm, PermissionsForm
from helpdesk.users.models import PERMISSION_FLAGS, User
from helpdesk.users.schemas import UserOut
from helpdesk.users.views import form_errors

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PER_PAGE = 50
HANDOVER_KEY = "admin_temporary_password"  # in the session: a new password, until shown once
SOURCE_LABELS = {"local": _l("Local password"), "ldap": "LDAP", "redmine": "Redmine", "erp": "ERP"}


# An administrator's change of an account, as the API documents it
documented_account_change = partial(
    documented, response=AccountDoneOut, access="admin", tag="admin", enveloped=False
)


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
        sources=SOURCE_LABELS,
        handover=session.pop(HANDOVER_KEY, None),
    )


def _render_new_user(form: NewUserForm) -> str:
    """The add-user page."""
    labels = PermissionsForm(formdata=None)
    return render_template(
        "admin/user_new.html",
        form=form,
        links=password_reset.available(),
        flags=PERMISSION_FLAGS,
        flag_labels={flag: labels[flag].label.text for flag in PERMISSION_FLAGS},
    )


def new_user_form() -> NewUserForm:
    """The add-user form, offering the configured sign-in sources."""
    form = NewUserForm()
    form.auth_source.choices = [(name, SOURCE_LABELS.get(name, name)) for name in providers()]
    if form.auth_source.data is None:
        form.auth_source.data = "local"
    return form


@bp.get("/users/new")
@admin_required
def new_user() -> str:
    """The add-user form."""
    return _render_new_user(new_user_form())


@bp.post("/users")
@documented_account_change(
    "Add an account: a local one gets a temporary password, shown once (or an e-mailed link)",
    body=NewUserIn,
    also=(422,),
)
@admin_required
def create_user() -> Response | tuple[str, int]:
    """Add an account: a local one gets a temporary password shown once (or, when asked and
    e-mail is set up, a link to choose one); others sign in with their source."""
    form = new_user_form()
    if not form.validate():
        if wants_json_response():
            return form_errors(form)
        return _render_new_user(form), 422
    flags = _sent_flags()
    user, password = accounts.create_account(
        form.username.data,
        form.email.data,
        form.auth_source.data,
        flags,
        full_name=form.full_name.data,
        department=form.department.data,
        position=form.position.data,
    )
    db.session.commit()
    return _handed_over(
        user,
        password,
        bool(form.send_link.data),
        _("Account %(name)s created.", name=user.username),
    )


def _sent_flags() -> dict[str, bool]:
    """The permission flags of a new account: checkboxes of the page, or true/false members of
    a JSON body (as when flags are changed)."""
    sent = request.get_json(silent=True) if request.is_json else None
    if not isinstance(sent, dict):
        return {flag: request.form.get(flag) == "y" for flag in PERMISSION_FLAGS}
    _require_boolean_flags(sent)
    return {flag: sent[flag] for flag in PERMISSION_FLAGS if flag in sent}


def _handed_over(user: User, password: str | None, send_link: bool, message: str) -> Response:
    """After a new password: e-mail a link (when asked and possible) or show the temporary
    password once; a JSON client gets it in the answer."""
    data = UserOut(**user.to_dict())
    if password is not None and send_link and password_reset.available():
        password_reset.send_link(user)
        message += " " + _(
            "A link to choose a password was e-mailed to %(email)s.", email=user.email
        )
        password = None
    if wants_json_response():
        body = AccountDoneOut(success=True, message=message, data=data)
        if password is not None:
            body.temporary_password = password
        return jsonify(body.answer())
    flash(message, "success")
    if password is not None:
        session[HANDOVER_KEY] = {"username": user.username, "password": password}
    return redirect(url_for("admin.users", q=user.username), 303)


def _account(user_id: int) -> User:
    """The user named in the URL, or 404."""
    return db.get_or_404(User, user_id)


def _done(message: str, user: User | None = None) -> Response:
    """The answer to an account action: JSON, or back to the list with a message."""
    if wants_json_response():
        data = UserOut(**user.to_dict()) if user else None
        return jsonify(AccountDoneOut(success=True, message=message, data=data).answer())
    flash(message, "success")
    return redirect(url_for("admin.users", q=request.args.get("q") or None), 303)


@bp.post("/users/<int:user_id>/lock")
@documented_account_change(
    "Lock an account and sign it out everywhere",
    also=(409,),
)
@admin_required
def lock_user(user_id: int) -> Response:
    """Lock an account: it keeps its history, signs in no more, and is signed out now."""
    user = _account(user_id)
    accounts.lock(user, current_user)
    db.session.commit()
    return _done(_("%(name)s is locked and signed out everywhere.", name=user.username), user)


@bp.post("/users/<int:user_id>/unlock")
@documented_account_change(
    "Let a locked account sign in again",
    also=(409,),
)
@admin_required
def unlock_user(user_id: int) -> Response:
    """Let a locked account sign in again."""
    user = _account(user_id)
    accounts.unlock(user)
    db.session.commit()
    return _done(_("%(name)s can sign in again.", name=user.username), user)


@bp.post("/users/<int:user_id>/delete")
@documented_account_change(
    "Delete an account that took part in no task (data: null)",
    also=(409,),
)
@admin_required
def delete_user(user_id: int) -> Response:
    """Delete an account that took part in no task (else: lock it)."""
    user = _account(user_id)
    name = user.username
    accounts.delete(user, current_user)
    db.session.commit()
    return _done(_("%(name)s was deleted.", name=name))


@bp.post("/users/<int:user_id>/password")
@documented_account_change(
    "Give a local account a new temporary password (shown once) or e-mail it a link",
    body=PasswordResetIn,
    also=(409,),
)
@admin_required
def reset_password(user_id: int) -> Response:
    """Give a local account a new temporary password (shown once) or e-mail it a link."""
    user = _account(user_id)
    sent = request.get_json(silent=True) if request.is_json else None
    send_link = request.form.get("send_link") == "y" or (sent or {}).get("send_link") is True
    if send_link and not password_reset.available():
        raise APIException(_("Password reset by e-mail is not set up here."), 409)
    if send_link:
        if not password_reset.resettable(user):
            raise APIException(
                _("%(name)s does not sign in with a password kept here.", name=user.username), 409
            )
        password_reset.send_link(user)
        return _done(
            _("A link to choose a password was e-mailed to %(email)s.", email=user.email), user
        )
    password = accounts.reset_password(user)
    db.session.commit()
    return _handed_over(
        user, password, False, _("The password of %(name)s was reset.", name=user.username)
    )


@bp.post("/users/<int:user_id>")
@documented_account_change(
    "Set a user's permission flags (only those sent)",
    body=PermissionsIn,
    also=(409, 422),
)
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
        done = AccountDoneOut(success=True, message=message, data=UserOut(**user.to_dict()))
        return jsonify(done.answer())
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


class EndpointFiguresOut(BaseModel):
    """One endpoint's timing figures since the last reset."""

    model_config = ConfigDict(extra="forbid")

    count: int
    total_time: float
    avg_time: float
    min_time: float
    max_time: float


class CacheCountOut(BaseModel):
    """A cache's hits and misses."""

    model_config = ConfigDict(extra="forbid")

    hits: int
    misses: int


class PerformanceOut(BaseModel):
    """GET /admin/metrics: the seed's figures by endpoint name, and `caches` beside them."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, EndpointFiguresOut]

    caches: dict[str, CacheCountOut]


@bp.get("/metrics")
@documented(
    "Per-endpoint timing figures and cache counts",
    response=PerformanceOut,
    access="admin",
    tag="health",
    enveloped=False,
)
@admin_required
def performance_metrics() -> Response:
    """The seed's per-endpoint timing figures, and each cache's hits and misses under `caches`."""
    figures = current_app.extensions["performance_monitor"].get_metrics()
    caches = {name: CacheCountOut(**counts) for name, counts in cache_counts().items()}
    return jsonify(PerformanceOut(**figures, caches=caches).model_dump())
