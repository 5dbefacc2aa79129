"""A real OpenLDAP for tests: Debian's slapd on loopback ports (ldap:// with StartTLS, and
ldaps://), in a temporary folder, filled with ldapadd and stopped by its pid file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from helpers import free_port
from smtp_server import self_signed_certificate

HOST = "127.0.0.1"
SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-1"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret-1"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
TOOLS = ("slapd", "slaptest", "ldapadd", "ldapmodify")
SBIN = ("/usr/sbin", "/usr/local/sbin")  # slapd lives in sbin, often not on a user's PATH

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {folder}/data
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
"""

BASE_ENTRIES = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: {READER_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: {READER_PASSWORD}

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups
"""


def tool(name: str) -> str | None:
    """Where an OpenLDAP program is, also in sbin (not on every PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(name, path=path)


def missing_tools() -> list[str]:
    """The OpenLDAP programs that are not installed (Debian: slapd, ldap-utils)."""
    return [name for name in TOOLS if tool(name) is None]


class LdapServer:
    """One slapd with its own configuration and data; start/stop may be repeated (an outage)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port()
        self.cert_file, key_file = self_signed_certificate(folder)
        (folder / "data").mkdir()
        (folder / "slapd.conf").write_text(
            CONFIG.format(
                folder=folder,
                cert=self.cert_file,
                key=key_file,
                suffix=SUFFIX,
                root_dn=ROOT_DN,
                root_password=ROOT_PASSWORD,
            ),
            encoding="utf-8",
        )
        config_dir = folder / "slapd.d"
        config_dir.mkdir()
        # slaptest writes the directory, then may exit 1 because the empty database cannot be
        # opened yet: the directory it wrote is what counts.
        subprocess.run(
            [tool("slaptest"), "-f", folder / "slapd.conf", "-F", config_dir],
            capture_output=True,
            check=False,
            timeout=30,
        )
        if not (config_dir / "cn=config.ldif").exists():
            raise RuntimeError(f"slaptest wrote no configuration in {config_dir}")
        self.config_dir = config_dir
        self.start()
        self.add(BASE_ENTRIES)

    @property
    def url(self) -> str:
        """The plain (StartTLS-capable) address."""
        return f"ldap://{HOST}:{self.port}"

    @property
    def tls_url(self) -> str:
        """The LDAPS address."""
        return f"ldaps://{HOST}:{self.tls_port}"

    def start(self) -> None:
        """Start slapd (it detaches) and wait until it accepts connections."""
        urls = f"{self.url}/ {self.tls_url}/"
        subprocess.run(
            [tool("slapd"), "-F", self.config_dir, "-h", urls],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"slapd did not start on {self.url}")

    def stop(self) -> None:
        """Stop slapd by its pid file and wait until it has gone."""
        pid_file = self.folder / "slapd.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text(encoding="utf-8").strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        pid_file.unlink(missing_ok=True)

    def _ldap(self, program: str, ldif: str) -> None:
        """Run ldapadd or ldapmodify as the root DN."""
        subprocess.run(
            [tool(program), "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=ldif,
            text=True,
            check=True,
            capture_output=True,
            timeout=30,
        )

    def add(self, ldif: str) -> None:
        """Add entries (LDIF)."""
        self._ldap("ldapadd", ldif)

    def modify(self, ldif: str) -> None:
        """Apply an LDIF change record."""
        self._ldap("ldapmodify", ldif)

    def add_person(self, uid: str, password: str, **attributes: str) -> str:
        """An inetOrgPerson under ou=people; returns its DN."""
        dn = f"uid={uid},{PEOPLE}"
        lines = [
            f"dn: {dn}",
            "objectClass: inetOrgPerson",
            f"uid: {uid}",
            f"cn: {attributes.pop('cn', uid.title())}",
            f"sn: {attributes.pop('sn', uid.title())}",
            f"userPassword: {password}",
            *(f"{name}: {value}" for name, value in attributes.items()),
        ]
        self.add("\n".join(lines) + "\n")
        return dn

    def add_group(self, cn: str, *members: str) -> str:
        """A groupOfNames under ou=groups; returns its DN."""
        dn = f"cn={cn},{GROUPS}"
        lines = [f"dn: {dn}", "objectClass: groupOfNames", f"cn: {cn}"]
        lines += [f"member: {member}" for member in members]
        self.add("\n".join(lines) + "\n")
        return dn
