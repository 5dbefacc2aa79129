"""Language choice: the user's preference, then the session's choice, then Accept-Language."""

from __future__ import annotations

from functools import cache

from babel import Locale
from flask import Blueprint, Flask, current_app, has_request_context, redirect, request, session
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.wrappers import Response

from helpdesk.core.security import SAFE_METHODS
from helpdesk.core.urls import safe_next_url
from helpdesk.extensions import babel, db

bp = Blueprint("i18n", __name__)


def select_locale() -> Locale:
    """Pick the language for this request (jobs and the CLI use the default)."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return locale_of(current_app.config["BABEL_DEFAULT_LOCALE"])
    preferred = getattr(current_user._get_current_object(), "language", None)  # one lookup
    if preferred in languages:
        return locale_of(preferred)
    chosen = session.get("language")
    if chosen in languages:
        return locale_of(chosen)
    return locale_of(
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


@cache
def locale_of(code: str) -> Locale:
    """The parsed locale of a language code, parsed once (Flask-Babel would parse it on every
    request)."""
    return Locale.parse(code)


def select_timezone() -> str:
    """The reader's time zone: their own choice (profile), else the company's DISPLAY_TIMEZONE
    (the seed's Moscow by default); jobs and e-mails without a request use the company's."""
    if has_request_context():
        chosen = getattr(current_user._get_current_object(), "timezone", None)
        if chosen:
            return str(chosen)
    return str(current_app.config["DISPLAY_TIMEZONE"])


def choose_locale_first() -> None:
    """Settle the language before a writing request's work, so translating the error of a failed
    flush works; a reading request settles it when it first translates, if it does."""
    if request.method not in SAFE_METHODS:
        get_locale()


@bp.post("/language/<code>")
def set_language(code: str) -> Response:
    """Switch the interface language, remembered for the user or for this session."""
    if code in current_app.config["LANGUAGES"]:
        session["language"] = code
        if current_user.is_authenticated:
            from helpdesk.users.snapshot import signed_in_row  # core does not import users

            signed_in_row(current_user).language = code
            db.session.commit()
    return redirect(safe_next_url(request.form.get("next")))


def register_i18n(app: Flask) -> None:
    """Bind Flask-Babel with our selectors and the language switch route."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["page_timezone"] = select_timezone
    app.before_request(choose_locale_first)
    app.register_blueprint(bp)
