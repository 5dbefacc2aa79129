"""The page where users create and revoke their personal API tokens."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from helpdesk.core.errors import wants_json_response
from helpdesk.core.forms import BaseForm
from helpdesk.core.openapi import documented
from helpdesk.extensions import db
from helpdesk.users.schemas import MessageOut, TokenCreatedOut, TokenIn, TokenOut
from helpdesk.users.tokens import create_token, revoke_token, user_tokens
from helpdesk.users.views import form_errors

bp = Blueprint("tokens", __name__, url_prefix="/users/tokens")

MAX_TOKENS = 20
NEW_TOKEN_KEY = "new_api_token"  # noqa: S105 (a session key: the new token, until shown)


class TokenForm(BaseForm):
    """Name a new token after the script that will use it."""

    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=60)])


@bp.get("")
@login_required
def tokens() -> str:
    """The user's tokens and a form to create one."""
    return render_template(
        "users/tokens.html",
        tokens=user_tokens(current_user),
        form=TokenForm(),
        new_token=session.pop(NEW_TOKEN_KEY, None),
    )


@bp.post("")
@documented(
    "Create a personal token (JSON clients get it in the answer, once)",
    body=TokenIn,
    response=TokenCreatedOut,
    status=201,
    access="session",
    tag="accounts",
    enveloped=False,
    also=(422,),
)
@login_required
def create() -> Response | tuple[str, int]:
    """Create a token; a page is redirected to the list, which shows the value once (reloading
    it creates nothing); a JSON client gets the value in the answer."""
    form = TokenForm()
    valid = form.validate()
    if valid and len(user_tokens(current_user)) >= MAX_TOKENS:
        form.name.errors = [_("You have too many tokens. Revoke one first.")]
        valid = False
    if not valid:
        if wants_json_response():
            return form_errors(form)
        page = render_template("users/tokens.html", tokens=user_tokens(current_user), form=form)
        return page, 422
    token, plain = create_token(current_user, form.name.data)
    db.session.commit()
    if wants_json_response():
        body = TokenCreatedOut(
            success=True, data=TokenOut(id=token.id, name=token.name, token=plain)
        )
        return jsonify(body.model_dump()), 201  # type: ignore[return-value]
    session[NEW_TOKEN_KEY] = plain  # shown by the next GET of the page, once
    return redirect(url_for("tokens.tokens"), 303)


@bp.post("/<int:token_id>/revoke")
@documented(
    "Revoke one of one's personal tokens",
    response=MessageOut,
    access="session",
    tag="accounts",
    enveloped=False,
)
@login_required
def revoke(token_id: int) -> Response | tuple[Response, int]:
    """Revoke one of the user's tokens; someone else's token is "not found"."""
    if not revoke_token(current_user, token_id):
        if wants_json_response():
            return jsonify({"success": False, "message": _("Token not found.")}), 404
        flash(_("Token not found."), "danger")
        return redirect(url_for("tokens.tokens"))
    db.session.commit()
    if wants_json_response():
        revoked = MessageOut(success=True, message=_("The token has been revoked."))
        return jsonify(revoked.model_dump())
    flash(_("The token has been revoked."), "info")
    return redirect(url_for("tokens.tokens"))
