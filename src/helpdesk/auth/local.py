"""The helpdesk's own accounts: a bcrypt hash in the user table."""

from __future__ import annotations

from helpdesk.auth.base import Profile
from helpdesk.users import service


class LocalProvider:
    """Accounts with a local password; a directory's or Redmine's users have none to match."""

    name = "local"

    def authenticate(self, username: str, password: str) -> Profile | None:
        """The local user if the password matches; a miss takes as long as a wrong password."""
        user = service.authenticate(username, password)
        if user is None or user.auth_source != self.name:
            return None
        return Profile(username=user.username)
