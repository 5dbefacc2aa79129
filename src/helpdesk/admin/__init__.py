"""Administration: users' permission flags and request metrics."""
