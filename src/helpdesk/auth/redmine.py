"""Sign-in with a Redmine login and password (GET /users/current.json with basic auth); the
password goes to Redmine only and is never stored."""

from __future__ import annotations

from flask_babel import gettext as _

from helpdesk.auth.base import OutageLog, Profile, ProviderUnavailable
from helpdesk.integrations.redmine.answers import User, UserAnswer
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.tasks.backends.base import TaskError


class RedmineProvider:
    """Redmine's own accounts; its users may use tasks (is_redmine_user)."""

    name = "redmine"

    def __init__(self, client: RedmineClient):
        self.client = client
        self.outage = OutageLog(self.name)

    def unavailable_message(self) -> str:
        """What Redmine's users are told while it is down."""
        return _("Redmine is unavailable, try again later.")

    def authenticate(self, username: str, password: str) -> Profile | None:
        """Redmine's profile of the user when it accepts the login and password."""
        if not username or not password:
            return None
        try:
            user = self.client.current_user(username, password)
            if user is not None and not user.get("mail"):
                user = self._with_mail(user)
        except TaskError as error:  # down, an error page, or the REST API switched off
            self.outage.failed(f"{type(error).__name__}: {error}")
            raise ProviderUnavailable(self.unavailable_message()) from error
        self.outage.succeeded()
        if user is None or not user["login"]:
            return None
        login = user["login"]
        name = f"{user.get('firstname') or ''} {user.get('lastname') or ''}".strip()
        mail = (user.get("mail") or "").strip().lower()
        return Profile(
            username=login,
            email=mail or None,
            fields={"full_name": name or None},
            flags={"is_redmine_user": True},
            redmine_username=login,
        )

    def _with_mail(self, user: User) -> User:
        """The user as the admin key sees them: Redmine hides a user's own e-mail from
        /users/current.json when their preferences hide it."""
        if not self.client.api_key:
            return user
        full = self.client.get(f"/users/{user['id']}.json", shape=UserAnswer)["user"]
        return {**user, "mail": full.get("mail")}
