"""Password reset by e-mail: a signed link that expires after PASSWORD_RESET_HOURS and works
once (it is bound to the password it replaces), for accounts whose password is kept here."""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from helpdesk.extensions import db, socketio
from helpdesk.notifications.mail_sender import EmailSender, MailError
from helpdesk.users.models import User

log = logging.getLogger(__name__)

SALT = "helpdesk-password-reset"


def available() -> bool:
    """Links need a mail server and the site's public address: a link built from the request's
    Host header could point a victim at someone else's site."""
    config = current_app.config
    return bool(config.get("MAIL_SERVER") and config.get("MAIL_BASE_URL"))


def _serializer() -> URLSafeTimedSerializer:
    """Signs with the application's secret, under a salt of its own."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    """Changes with the password and the session token: a used link, or one issued before a
    later password change, opens nothing."""
    return hashlib.sha256(f"{user.password}:{user.session_token}".encode()).hexdigest()[:32]


def resettable(user: User | None) -> bool:
    """Only an active account whose password the helpdesk keeps can be reset here."""
    return user is not None and user.is_active and user.auth_source == "local"


def token_for(user: User) -> str:
    """A signed token naming the user and the password it may replace."""
    return _serializer().dumps({"user": user.id, "fingerprint": _fingerprint(user)})


def user_for_token(token: str) -> User | None:
    """The user a valid, unexpired, unused token names, else None."""
    max_age = int(float(current_app.config["PASSWORD_RESET_HOURS"]) * 3600)
    try:
        claim: Any = _serializer().loads(token, max_age=max_age)
    except BadSignature:  # also expired (SignatureExpired is a BadSignature)
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("user"), int):
        return None
    user = db.session.get(User, claim["user"])
    if not resettable(user):
        return None
    assert user is not None
    sent = str(claim.get("fingerprint", ""))
    return user if secrets.compare_digest(sent, _fingerprint(user)) else None


def reset_link(user: User) -> str:
    """The link the e-mail carries."""
    base = current_app.config["MAIL_BASE_URL"].rstrip("/")
    return f"{base}/users/password/reset/{token_for(user)}"


def send_link(user: User) -> None:
    """E-mail the user a reset link in their language; sent in the background, so the answer
    takes as long whether or not an account was found."""
    sender = EmailSender.from_config(current_app.config)
    if sender is None:
        return
    hours = float(current_app.config["PASSWORD_RESET_HOURS"])
    language = user.language or user.last_locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        subject = _("Reset your helpdesk password")
        context = {
            "title": subject,
            "name": user.display_name,
            "link": reset_link(user),
            "hours": f"{hours:g}",
        }
        message = sender.build_message(user.email, subject, "password_reset", context)
    socketio.start_background_task(_deliver, sender, message)


def _deliver(sender: EmailSender, message: Any) -> None:
    """One message over its own SMTP session; a failure is logged (never the link)."""
    try:
        with sender.connect() as smtp:
            sender.deliver(smtp, message)
    except MailError as error:
        log.warning("a password reset e-mail was not sent: %s", error)
