"""Backups: the database and the uploaded files in one archive (`helpdesk backup`/`restore`)."""
