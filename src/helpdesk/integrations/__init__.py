"""Connections to the systems outside the helpdesk (Redmine; later the ERP and LDAP)."""
