"""Sign-in against an LDAP directory (ldap3): find the entry as the service account, then bind as
the user to check the password; the entry's attributes and groups become the local profile."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ldap3
from flask_babel import gettext as _
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from helpdesk.auth.base import OutageLog, Profile, ProviderUnavailable
from helpdesk.users.models import PERMISSION_FLAGS
from helpdesk.users.service import PROFILE_FIELDS

DEFAULT_ATTRIBUTE_MAP = {
    "cn": "full_name",
    "mail": "email",
    "departmentNumber": "department",
    "title": "position",
    "telephoneNumber": "phone",
}
MAPPABLE = frozenset({"email", *PROFILE_FIELDS})
# Result codes that mean "the directory cannot answer now", not "this password is wrong".
BUSY_RESULTS = frozenset({51, 52})  # busy, unavailable
MEMBERSHIP_FILTER = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"


def _json_setting(config: Mapping[str, Any], key: str, default: dict[str, Any]) -> dict[str, Any]:
    """A setting holding a JSON object (empty: the default); a start-up error names the key."""
    raw = config.get(key) or ""
    if isinstance(raw, dict):
        return raw
    if not raw.strip():
        return default
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise RuntimeError(f"{key} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise RuntimeError(f"{key} must be a JSON object")
    return value


@dataclass(frozen=True)
class LdapSettings:
    """The LDAP_* settings, checked once at start-up."""

    url: str
    base_dn: str
    bind_dn: str = ""
    bind_password: str = ""
    user_filter: str = "(uid={username})"
    start_tls: bool = False
    ca_file: str = ""
    timeout: int = 5
    attribute_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTE_MAP))
    group_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LdapSettings:
        """Read and check the settings; anything wrong stops the start with the key's name."""
        for key in ("LDAP_URL", "LDAP_BASE_DN"):
            if not config.get(key):
                raise RuntimeError(f"AUTH_PROVIDERS includes ldap, so {key} must be set")
        url = config["LDAP_URL"]
        if not url.startswith(("ldap://", "ldaps://")):
            raise RuntimeError(f"LDAP_URL must start with ldap:// or ldaps://, not {url!r}")
        user_filter = config.get("LDAP_USER_FILTER") or "(uid={username})"
        if "{username}" not in user_filter:
            raise RuntimeError("LDAP_USER_FILTER must contain {username}")
        attribute_map = _json_setting(config, "LDAP_ATTRIBUTE_MAP", DEFAULT_ATTRIBUTE_MAP)
        wrong = {target for target in attribute_map.values() if target not in MAPPABLE}
        if wrong:
            raise RuntimeError(
                f"LDAP_ATTRIBUTE_MAP maps to unknown fields {sorted(wrong)}; "
                f"known: {sorted(MAPPABLE)}"
            )
        group_flags: dict[str, tuple[str, ...]] = {}
        for group, flags in _json_setting(config, "LDAP_GROUP_FLAGS", {}).items():
            names = (flags,) if isinstance(flags, str) else tuple(flags)
            unknown = [name for name in names if name not in PERMISSION_FLAGS]
            if unknown:
                raise RuntimeError(
                    f"LDAP_GROUP_FLAGS gives {group!r} unknown flags {unknown}; "
                    f"known: {list(PERMISSION_FLAGS)}"
                )
            group_flags[group] = names
        return cls(
            url=url,
            base_dn=config["LDAP_BASE_DN"],
            bind_dn=config.get("LDAP_BIND_DN") or "",
            bind_password=config.get("LDAP_BIND_PASSWORD") or "",
            user_filter=user_filter,
            start_tls=bool(config.get("LDAP_START_TLS")),
            ca_file=config.get("LDAP_CA_FILE") or "",
            timeout=max(1, int(config.get("LDAP_TIMEOUT") or 5)),
            attribute_map=dict(attribute_map),
            group_flags=group_flags,
        )


def _first_value(value: Any) -> str | None:
    """One attribute value as text (directories return lists, sometimes bytes)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class LdapProvider:
    """Checks passwords by binding as the user; a fresh connection per sign-in, every step
    bounded by LDAP_TIMEOUT."""

    name = "ldap"

    def __init__(self, settings: LdapSettings):
        self.settings = settings
        try:  # ldap3's default would accept any certificate
            self.tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file or None)
        except LDAPException as error:
            raise RuntimeError(f"LDAP_CA_FILE {settings.ca_file!r}: {error}") from None
        self.outage = OutageLog(self.name)

    def unavailable_message(self) -> str:
        """What the directory's users are told while it is down."""
        return _("The directory is unavailable, try again later.")

    def authenticate(self, username: str, password: str) -> Profile | None:
        """The directory's profile when the user's own bind succeeds."""
        if not username or not password:  # an empty password would be an anonymous bind
            return None
        try:
            profile = self._authenticate(username, password)
        except (LDAPException, OSError) as error:  # refused, timed out, TLS failed, …
            self.outage.failed(f"{type(error).__name__}: {error}")
            raise ProviderUnavailable(self.unavailable_message()) from error
        self.outage.succeeded()
        return profile

    def _server(self) -> ldap3.Server:
        """A server object per sign-in: ldap3's remembers a failed address for a while, and a
        directory that is back must be used at once."""
        return ldap3.Server(
            self.settings.url,
            tls=self.tls,
            get_info=ldap3.NONE,
            connect_timeout=self.settings.timeout,
        )

    @contextmanager
    def _connection(
        self, server: ldap3.Server, user: str | None, password: str | None
    ) -> Iterator[ldap3.Connection]:
        """An open connection (after StartTLS when configured), closed at the end whatever
        happened; binding is the caller's."""
        connection = ldap3.Connection(
            server,
            user=user or None,
            password=password or None,
            receive_timeout=self.settings.timeout,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=True,
        )
        try:
            connection.open()
            if self.settings.start_tls and not connection.start_tls():
                raise _unavailable(connection, "StartTLS refused")
            yield connection
        finally:
            close_connection(connection)

    def _authenticate(self, username: str, password: str) -> Profile | None:
        """Search as the service account, bind as the user, read the groups."""
        server = self._server()
        with self._connection(
            server, self.settings.bind_dn, self.settings.bind_password
        ) as service:
            if not service.bind():
                raise _unavailable(service, "the service account's bind was refused")
            entry = self._find(service, username)
            if entry is None:
                return None
            dn, attributes = entry
            if not self._password_is_right(server, dn, password):
                return None
            flags = self._group_flags(service, dn, username)
        return self._profile(username, attributes, flags)

    def _find(self, service: ldap3.Connection, username: str) -> tuple[str, dict[str, Any]] | None:
        """The one entry the filter finds for this username, or None (none, or ambiguous)."""
        query = self.settings.user_filter.replace("{username}", escape_filter_chars(username))
        service.search(
            self.settings.base_dn,
            query,
            search_scope=ldap3.SUBTREE,
            attributes=list(self.settings.attribute_map),
            size_limit=2,
            time_limit=self.settings.timeout,
        )
        if service.result["result"] not in (0, 4, 32):  # success, size limit, no such object
            raise _unavailable(service, "the user search failed")
        entries = [item for item in service.response or [] if item.get("type") == "searchResEntry"]
        if len(entries) != 1:
            return None
        return entries[0]["dn"], dict(entries[0]["attributes"])

    def _password_is_right(self, server: ldap3.Server, dn: str, password: str) -> bool:
        """Whether the user's own bind succeeds."""
        with self._connection(server, dn, password) as connection:
            if connection.bind():
                return True
            if connection.result["result"] in BUSY_RESULTS:
                raise _unavailable(connection, "the user's bind could not be checked")
            return False

    def _group_flags(self, service: ldap3.Connection, dn: str, username: str) -> dict[str, bool]:
        """Every flag LDAP_GROUP_FLAGS names: set when the user is in one of its groups."""
        flags = {flag: False for names in self.settings.group_flags.values() for flag in names}
        query = MEMBERSHIP_FILTER.format(
            dn=escape_filter_chars(dn), username=escape_filter_chars(username)
        )
        for group, names in self.settings.group_flags.items():
            service.search(group, query, search_scope=ldap3.BASE, attributes=[])
            if service.result["result"] not in (0, 32):  # no such group: not a member
                raise _unavailable(service, f"the group {group} could not be read")
            if any(item.get("type") == "searchResEntry" for item in service.response or []):
                flags.update(dict.fromkeys(names, True))
        return flags

    def _profile(
        self, username: str, attributes: dict[str, Any], flags: dict[str, bool]
    ) -> Profile:
        """The local profile from the entry's mapped attributes."""
        values = {
            target: _first_value(attributes.get(attribute))
            for attribute, target in self.settings.attribute_map.items()
        }
        email = values.pop("email", None)
        return Profile(
            username=username,
            email=email.lower() if email else None,
            fields=values,
            flags=flags,
        )


def _unavailable(connection: ldap3.Connection, what: str) -> LDAPException:
    """An error for an answer that means the directory cannot be used now."""
    result = connection.result or {}
    return LDAPException(f"{what} ({result.get('description')}: {result.get('message')})")


def close_connection(connection: ldap3.Connection) -> None:
    """Unbind if still open, and close the socket a failed open or StartTLS leaves behind."""
    try:
        if not connection.closed:
            connection.unbind()
    except (LDAPException, OSError):
        pass  # the socket is gone already; nothing to tell the server
    if connection.socket is not None:
        connection.socket.close()
