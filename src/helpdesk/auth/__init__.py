"""Sign-in providers behind one chain: AUTH_PROVIDERS names them in the order a newcomer is
tried (local, ldap, erp, redmine)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app

from helpdesk.auth.base import AuthProvider


def _local(config: Mapping[str, Any]) -> AuthProvider:
    """The helpdesk's own passwords."""
    from helpdesk.auth.local import LocalProvider

    return LocalProvider()


def _ldap(config: Mapping[str, Any]) -> AuthProvider:
    """A company directory over LDAP."""
    from helpdesk.auth.ldap import LdapProvider, LdapSettings

    return LdapProvider(LdapSettings.from_config(config))


def _redmine(config: Mapping[str, Any]) -> AuthProvider:
    """Redmine's accounts, checked by Redmine."""
    from helpdesk.auth.redmine import RedmineProvider
    from helpdesk.integrations.redmine.client import RedmineClient

    if not config.get("REDMINE_URL"):
        raise RuntimeError("AUTH_PROVIDERS includes redmine, so REDMINE_URL must be set")
    client = RedmineClient(
        config["REDMINE_URL"],
        config.get("REDMINE_API_KEY") or "",
        config.get("REDMINE_TIMEOUT") or 5,
    )
    return RedmineProvider(client)


def _erp(config: Mapping[str, Any]) -> AuthProvider:
    """The company's ERP, over its database (integrations/erp.py)."""
    from helpdesk.auth.erp import ErpProvider
    from helpdesk.integrations.erp import ERPOracleConnector

    connector = ERPOracleConnector(config=config)
    if not connector.configured:
        raise RuntimeError(
            "AUTH_PROVIDERS includes erp, so ERP_DATABASE_URL or ERP_ORACLE_HOST and "
            "ERP_ORACLE_SERVICE_NAME must be set"
        )
    return ErpProvider(connector, bool(config.get("ERP_TASK_ACCESS", True)))


PROVIDERS: dict[str, Callable[[Mapping[str, Any]], AuthProvider]] = {
    "local": _local,
    "ldap": _ldap,
    "erp": _erp,
    "redmine": _redmine,
}


def build_providers(config: Mapping[str, Any]) -> dict[str, AuthProvider]:
    """The providers AUTH_PROVIDERS names, in order; a wrong name stops the start-up."""
    names = config.get("AUTH_PROVIDERS") or ()
    if isinstance(names, str):
        names = tuple(name.strip() for name in names.split(",") if name.strip())
    if not names:
        raise RuntimeError("AUTH_PROVIDERS is empty: nobody could sign in (default: local)")
    chain: dict[str, AuthProvider] = {}
    for name in names:
        if name not in PROVIDERS:
            raise RuntimeError(
                f"AUTH_PROVIDERS names unknown provider {name!r}; known: {', '.join(PROVIDERS)}"
            )
        if name in chain:
            raise RuntimeError(f"AUTH_PROVIDERS names {name!r} twice")
        chain[name] = PROVIDERS[name](config)
    return chain


def registration_open() -> bool:
    """Self-registration unless REGISTRATION is closed, and only while local passwords are the
    one source: with a directory, a newcomer could otherwise take a name that belongs to one of
    its users before they sign in."""
    return current_app.config["REGISTRATION"] != "closed" and list(
        current_app.extensions["auth_providers"]
    ) == ["local"]


def register_auth(app: Flask) -> None:
    """Build the sign-in chain from the settings, so a wrong setting fails at start-up."""
    app.extensions["auth_providers"] = build_providers(app.config)
    app.context_processor(lambda: {"registration_open": registration_open()})
