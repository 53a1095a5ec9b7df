"""Numbered SQL migrations, applied in order by `PRAGMA user_version`."""
