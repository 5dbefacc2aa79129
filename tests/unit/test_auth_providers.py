"""AUTH_PROVIDERS and the LDAP_* settings are checked at start-up, naming what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk.auth import build_providers

LDAP = {"LDAP_URL": "ldap://127.0.0.1:1", "LDAP_BASE_DN": "dc=example,dc=com"}


def test_the_default_chain_is_local_alone() -> None:
    assert list(build_providers({"AUTH_PROVIDERS": ("local",)})) == ["local"]


def test_providers_keep_their_order() -> None:
    config = {"AUTH_PROVIDERS": ("ldap", "local"), **LDAP}
    assert list(build_providers(config)) == ["ldap", "local"]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"AUTH_PROVIDERS": ("local", "erp")}, ["AUTH_PROVIDERS includes erp", "ERP_DATABASE_URL"]),
        ({"AUTH_PROVIDERS": ("local", "kerberos")}, ["unknown provider 'kerberos'", "ldap"]),
        ({"AUTH_PROVIDERS": ("local", "local")}, ["'local' twice"]),
        ({"AUTH_PROVIDERS": ()}, ["AUTH_PROVIDERS is empty"]),
        ({"AUTH_PROVIDERS": ("ldap",), "LDAP_BASE_DN": "dc=x"}, ["LDAP_URL must be set"]),
        ({"AUTH_PROVIDERS": ("ldap",), "LDAP_URL": "ldap://h"}, ["LDAP_BASE_DN must be set"]),
        ({"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_URL": "http://h"}, ["ldap:// or ldaps://"]),
        (
            {"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_USER_FILTER": "(uid=*)"},
            ["LDAP_USER_FILTER", "{username}"],
        ),
        (
            {"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_ATTRIBUTE_MAP": "{cn: full_name}"},
            ["LDAP_ATTRIBUTE_MAP is not valid JSON"],
        ),
        (
            {"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_ATTRIBUTE_MAP": '{"cn": "password"}'},
            ["LDAP_ATTRIBUTE_MAP", "'password'"],
        ),
        (
            {"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_GROUP_FLAGS": '["cn=a"]'},
            ["LDAP_GROUP_FLAGS must be a JSON object"],
        ),
        (
            {"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_GROUP_FLAGS": '{"cn=a": ["is_root"]}'},
            ["LDAP_GROUP_FLAGS", "is_root"],
        ),
        (
            {"AUTH_PROVIDERS": ("ldap",), **LDAP, "LDAP_CA_FILE": "/nonexistent/ca.pem"},
            ["LDAP_CA_FILE", "/nonexistent/ca.pem"],
        ),
    ],
)
def test_a_wrong_setting_stops_the_start_with_its_name(
    config: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(RuntimeError) as error:
        build_providers(config)
    for word in words:
        assert word in str(error.value)


def test_group_flags_accept_one_flag_or_a_list() -> None:
    config = {
        "AUTH_PROVIDERS": ("ldap",),
        **LDAP,
        "LDAP_GROUP_FLAGS": '{"cn=a": "is_admin", "cn=b": ["is_redmine_user", "is_admin"]}',
    }
    provider: Any = build_providers(config)["ldap"]
    assert provider.settings.group_flags == {
        "cn=a": ("is_admin",),
        "cn=b": ("is_redmine_user", "is_admin"),
    }
