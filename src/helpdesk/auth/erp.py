"""Sign-in against the company's ERP (integrations/erp.py): the ERP checks the password, and its
profile (department, position, manager, hire date, …) fills the account at every sign-in."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from helpdesk.auth.base import OutageLog, Profile, ProviderUnavailable
from helpdesk.integrations.erp import ERPOracleConnector, ERPUnavailable

TEXT_FIELDS = ("full_name", "department", "position", "office", "phone", "manager")


class ErpProvider:
    """The ERP's employees; ERP_TASK_ACCESS says whether they may use tasks."""

    name = "erp"

    def __init__(self, connector: ERPOracleConnector, task_access: bool):
        self.connector = connector
        self.task_access = task_access
        self.outage = OutageLog(self.name)

    def unavailable_message(self) -> str:
        """What the ERP's users are told while it is down."""
        return _("The directory is unavailable, try again later.")

    def authenticate(self, username: str, password: str) -> Profile | None:
        """The ERP's profile of the user when it knows them and the password is right."""
        try:
            user = self.connector.authenticate_user(username, password)
            profile = self.connector.get_user_profile(user["username"]) if user else None
        except ERPUnavailable as error:
            self.outage.failed(str(error))
            raise ProviderUnavailable(self.unavailable_message()) from error
        self.outage.succeeded()
        if user is None:
            return None
        known = profile or user
        hired = known.get("hire_date")
        return Profile(
            username=str(known["username"]),
            email=(known.get("email") or "").strip().lower() or None,
            fields={
                **{name: known.get(name) for name in TEXT_FIELDS if name in known},
                **({"hire_date": date.fromisoformat(hired)} if hired else {}),
            },
            flags={"is_redmine_user": self.task_access},
        )
