"""Account pages and their JSON twins: login, registration, profile, account, password."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from helpdesk.auth import registration_open
from helpdesk.auth.base import SignInError
from helpdesk.auth.chain import sign_in
from helpdesk.core.errors import wants_json_response
from helpdesk.core.images import ImageRejected, delete_image
from helpdesk.core.models import SiteSetting
from helpdesk.core.openapi import documented
from helpdesk.core.rate_limits import rate_limit
from helpdesk.core.security import is_cross_origin
from helpdesk.core.urls import page_number, safe_next_url
from helpdesk.extensions import db
from helpdesk.posts.models import Post
from helpdesk.users import password_reset, service, throttle
from helpdesk.users.forms import (
    AccountForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordChangeForm,
    RegistrationForm,
    ResetPasswordForm,
)
from helpdesk.users.models import User
from helpdesk.users.schemas import (
    AccountIn,
    AccountOut,
    ForgotPasswordIn,
    LoginIn,
    LoginOut,
    MessageOut,
    PasswordChangeIn,
    RegisterIn,
    ResetPasswordIn,
    UserOut,
)
from helpdesk.users.snapshot import signed_in_row

bp = Blueprint("users", __name__, url_prefix="/users")

HOME_AFTER_LOGIN = "tasks.my_tasks"


def form_errors(form: object, status: int = 422, message: str | None = None) -> Response:
    """Answer a JSON client with the form's per-field errors."""
    response = jsonify(
        {
            "success": False,
            "message": message or _("Please correct the highlighted fields."),
            "errors": form.errors_by_field(),  # type: ignore[attr-defined]
        }
    )
    response.status_code = status
    return response


def start_session(user: User, remember: bool) -> None:
    """Log the user in under a fresh session id, so a planted id is worthless."""
    # Regenerate first: Flask-Session skips an empty session, and a cleared one counts as empty.
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()
    login_user(user, remember=remember)
    refresh()  # answer in the language of the user who just signed in
    user.last_locale = str(get_locale())
    if user.language:
        session["language"] = user.language


def count_login_attempt(account: str) -> None:
    """Count this attempt before the password is checked; 429 past a limit (the counters'
    storage unreachable: 503, from core/errors.py). The limits' headers go on the answer."""
    verdict = throttle.count_attempt(request.remote_addr or "127.0.0.1", account)
    if verdict is None:
        return
    headers = verdict.headers()
    after_this_request(lambda response: _with_headers(response, headers))
    if verdict.refused:
        raise TooManyRequests(retry_after=int(headers["Retry-After"]))


def _with_headers(response: Response, headers: dict[str, str]) -> Response:
    """The rate limit's headers on a login answer."""
    response.headers.update(headers)
    return response


@bp.route("/login", methods=["GET", "POST"])
@documented(
    "Sign in (JSON answers for JSON clients): the session cookie",
    method="POST",
    body=LoginIn,
    response=LoginOut,
    access="public",
    tag="accounts",
    enveloped=False,
    also=(401, 403, 422, 429),
)
def login() -> Response | str | tuple[str, int]:
    """Sign in; JSON clients get the seed's success/message/redirect document."""
    target = safe_next_url(request.args.get("next"), HOME_AFTER_LOGIN)
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target)
    form = LoginForm()
    wants_json = wants_json_response()
    if request.method == "POST":
        if not form.validate():
            return form_errors(form) if wants_json else (_render_login(form), 422)
        count_login_attempt(form.username.data)
        try:
            user = sign_in(form.username.data, form.password.data)
            message, status = _("Invalid username or password."), 401
        except SignInError as error:  # e.g. the user's directory is down: not "wrong password"
            user, message, status = None, error.message, error.status
        if user is not None and not user.is_active:  # told only to who knows the password
            db.session.rollback()
            user, message, status = None, _("This account is locked: ask an administrator."), 403
        if user is None:
            if wants_json:
                return jsonify({"success": False, "message": message}), status  # type: ignore[return-value]
            form.password.errors = [message]
            return _render_login(form), status
        throttle.forget_failures(request.remote_addr or "127.0.0.1", form.username.data)
        start_session(user, bool(form.remember.data))
        db.session.commit()
        if wants_json:
            answer = LoginOut(success=True, message=_("Login successful"), redirect=target)
            return jsonify(answer.model_dump())
        return redirect(target)
    return _render_login(form)


def _render_login(form: LoginForm) -> str:
    """The login page, with the demo password hint while demo data is loaded."""
    demo_password = SiteSetting.get("demo_password")
    return render_template(
        "users/login.html",
        form=form,
        demo_password=demo_password,
        password_reset_available=password_reset.available(),
    )


def registration_rate_limit() -> str:
    """The configured limit on registration attempts per client address."""
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@bp.route("/register", methods=["GET", "POST"])
@documented(
    "Create a local account and sign in with it (JSON answers for JSON clients)",
    method="POST",
    body=RegisterIn,
    response=AccountOut,
    status=201,
    access="public",
    tag="accounts",
    enveloped=False,
    also=(403, 422, 429),
)
@rate_limit(registration_rate_limit, methods=["POST"])
def register() -> Response | str | tuple[str, int]:
    """Create a local account and sign in with it, as REGISTRATION allows: open (task access at
    once), approval (an administrator gives task access later) or closed (no self-service)."""
    policy = current_app.config["REGISTRATION"]
    if policy == "closed":
        abort(
            403, _("Registration is closed on this helpdesk: ask an administrator for an account.")
        )
    form = RegistrationForm()
    wants_json = wants_json_response()
    if not registration_open():
        message = _("Accounts come from the company's directory: sign in with its password.")
        if wants_json:
            return jsonify({"success": False, "message": message}), 403  # type: ignore[return-value]
        flash(message, "info")
        return redirect(url_for("users.login"))
    if request.method == "POST":
        valid = form.validate()
        if valid and service.account_exists(
            form.username.data, form.email.data, form.password.data
        ):
            # the same words for a taken username and a taken address: a stranger cannot learn
            # which addresses have accounts
            taken = _("This username or e-mail cannot be used. Choose another, or log in.")
            form.username.errors = form.email.errors = [taken]
            valid = False
        if not valid:
            return form_errors(form) if wants_json else (_render("register", form), 422)
        user = service.create_user(
            form.username.data,
            form.email.data,
            form.password.data,
            full_name=form.full_name.data,
            department=form.department.data,
            position=form.position.data,
            is_redmine_user=policy == "open",
        )
        start_session(user, remember=False)
        db.session.commit()
        if policy == "open":
            message = _("Your account has been created.")
        else:
            message = _(
                "Your account has been created. An administrator will give you access to tasks; "
                "until then you can read announcements and fill in your profile."
            )
        if wants_json:
            body = AccountOut(success=True, message=message, data=UserOut(**user.to_dict()))
            return jsonify(body.answer()), 201  # type: ignore[return-value]
        flash(message, "success")
        return redirect(url_for("posts.home"))
    return _render("register", form)


def _render(page: str, form: object, **context: object) -> str:
    """Render one of the account templates with its form."""
    return render_template(f"users/{page}.html", form=form, **context)


@bp.route("/logout", methods=["GET", "POST"])
@documented(
    "End this session (JSON answers for JSON clients; a cross-site GET only gets a page)",
    response=MessageOut,
    access="public",
    tag="accounts",
    enveloped=False,
)
def logout() -> Response | str:
    """End this session (the server-side record is deleted, not just the cookie). The seed's
    clients log out with GET; a GET the browser says comes from another site (a link or an image
    planted elsewhere) only gets a page that asks, and logs out by POST."""
    if request.method == "GET" and is_cross_origin():
        return render_template("users/logout.html")
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if current_user.is_authenticated and remember_cookie in request.cookies:
        # the cookie is the same credential as every session's
        service.end_all_sessions(signed_in_row(current_user))
        db.session.commit()
    session.clear()
    logout_user()  # after clear(): it leaves the note that tells Flask-Login to drop remember-me
    if wants_json_response():
        return jsonify(
            MessageOut(success=True, message=_("You have been logged out.")).model_dump()
        )
    flash(_("You have been logged out."), "info")
    return redirect(url_for("users.login"))


@bp.get("/profile/<string:username>")
@login_required
def user_posts(username: str) -> str:
    """A user's profile with their announcements, newest first."""
    user = db.first_or_404(select(User).where(func.lower(User.username) == username.lower()))
    page = page_number()
    posts = db.paginate(
        select(Post).where(Post.user_id == user.id).order_by(Post.date_posted.desc()),
        page=page,
        per_page=current_app.config["POSTS_PER_PAGE"],
        error_out=False,
    )
    return render_template("users/profile.html", user=user, posts=posts)


@bp.route("/account", methods=["GET", "POST"])
@documented(
    "One's own profile (send Accept: application/json; a page otherwise)",
    method="GET",
    response=AccountOut,
    access="session",
    tag="accounts",
    enveloped=False,
)
@documented(
    "Change one's own profile (JSON answers for JSON clients)",
    method="POST",
    body=AccountIn,
    response=AccountOut,
    access="session",
    tag="accounts",
    enveloped=False,
)
@login_required
def account() -> Response | str | tuple[str, int]:
    """Edit one's own profile and avatar."""
    user = signed_in_row(current_user)
    form = AccountForm(user)
    wants_json = wants_json_response()
    if request.method == "POST":
        if not form.validate():
            return form_errors(form) if wants_json else (_render("account", form), 422)
        try:
            replaced = service.update_profile(user, form.data, form.picture.data)
        except ImageRejected as error:
            db.session.rollback()
            form.picture.errors = [str(error)]
            return (
                form_errors(form, 400, str(error))
                if wants_json
                else (
                    _render("account", form),
                    400,
                )
            )
        db.session.commit()
        delete_image("avatars", replaced)
        if user.language:
            session["language"] = user.language
        message = _("Your account has been updated.")
        if wants_json:
            answer = AccountOut(success=True, message=message, data=UserOut(**user.to_dict()))
            return jsonify(answer.answer())
        flash(message, "success")
        return redirect(url_for("users.account"))
    if wants_json:
        return jsonify(AccountOut(success=True, data=UserOut(**user.to_dict())).answer())
    return _render("account", form)


@bp.route("/password", methods=["GET", "POST"])
@documented(
    "Change one's own password; every other session ends",
    method="POST",
    body=PasswordChangeIn,
    response=MessageOut,
    access="session",
    tag="accounts",
    enveloped=False,
    also=(403, 422),
)
@login_required
def change_password() -> Response | str | tuple[str, int]:
    """Change one's password; other sessions and remember-me cookies stop working."""
    form = PasswordChangeForm()
    wants_json = wants_json_response()
    if current_user.auth_source != "local":
        message = _("Your password is not kept here: change it where you sign in.")
        if wants_json:
            return jsonify({"success": False, "message": message}), 403  # type: ignore[return-value]
        flash(message, "info")
        return redirect(url_for("users.account"))
    if request.method == "POST":
        valid = form.validate()
        user = signed_in_row(current_user)
        if valid and not user.check_password(form.current_password.data):
            form.current_password.errors = [_("The current password is wrong.")]
            valid = False
        if not valid:
            return form_errors(form) if wants_json else (_render("password", form), 422)
        service.change_password(user, form.new_password.data)
        start_session(user, remember=False)
        db.session.commit()
        message = _("Your password has been changed. Other sessions were signed out.")
        if wants_json:
            return jsonify(MessageOut(success=True, message=message).model_dump())
        flash(message, "success")
        return redirect(url_for("users.account"))
    return _render("password", form)


def password_reset_rate_limit() -> str:
    """The configured limit on reset link requests per client address."""
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


@bp.route("/password/forgot", methods=["GET", "POST"])
@documented(
    "Ask for a password reset link by e-mail (the same answer whether or not the account exists)",
    method="POST",
    body=ForgotPasswordIn,
    response=MessageOut,
    access="public",
    tag="accounts",
    enveloped=False,
    also=(404, 422, 429),
)
@rate_limit(password_reset_rate_limit, methods=["POST"])
def forgot_password() -> Response | str | tuple[str, int]:
    """Ask for a reset link; the answer is the same whether or not the account exists."""
    wants_json = wants_json_response()
    if not password_reset.available():
        message = _("Password reset by e-mail is not set up here: ask an administrator.")
        if wants_json:
            return jsonify({"success": False, "message": message}), 404  # type: ignore[return-value]
        flash(message, "info")
        return redirect(url_for("users.login"))
    form = ForgotPasswordForm()
    if request.method == "POST":
        if not form.validate():
            return form_errors(form) if wants_json else (_render("forgot_password", form), 422)
        user = service.find_by_login(form.login.data)
        if password_reset.resettable(user):
            assert user is not None
            password_reset.send_link(user)
        db.session.rollback()
        message = _(
            "If an account with a password kept here matches, a link to choose a new password "
            "is on its way to its e-mail address."
        )
        if wants_json:
            return jsonify(MessageOut(success=True, message=message).model_dump())
        flash(message, "info")
        return redirect(url_for("users.login"))
    return _render("forgot_password", form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@documented(
    "Choose a new password through a reset link",
    method="POST",
    body=ResetPasswordIn,
    response=MessageOut,
    access="public",
    tag="accounts",
    enveloped=False,
    also=(404, 422, 429),
)
@rate_limit(password_reset_rate_limit, methods=["POST"])
def reset_password(token: str) -> Response | str | tuple[str, int]:
    """Choose a new password through a link from the e-mail; it works once."""
    wants_json = wants_json_response()
    user = password_reset.user_for_token(token)
    if user is None:
        message = _("This link has expired or was already used. Ask for a new one.")
        if wants_json:
            return jsonify({"success": False, "message": message}), 404  # type: ignore[return-value]
        flash(message, "warning")
        return redirect(url_for("users.forgot_password"))
    form = ResetPasswordForm(user)
    if request.method == "POST":
        if not form.validate():
            return form_errors(form) if wants_json else (_render("reset_password", form), 422)
        service.change_password(user, form.new_password.data)
        db.session.commit()
        message = _("Your password has been changed. Log in with it.")
        if wants_json:
            return jsonify(MessageOut(success=True, message=message).model_dump())
        flash(message, "success")
        return redirect(url_for("users.login"))
    return _render("reset_password", form)
