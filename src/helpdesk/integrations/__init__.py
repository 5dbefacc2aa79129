"""Integrations with the company's other systems (Redmine), each behind its own interface."""
