"""Redmine: its REST client, the task backend's pieces, its database reader and change feed."""
