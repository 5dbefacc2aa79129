"""Redmine: the REST client, the identity map, the database reader and the change feed."""
