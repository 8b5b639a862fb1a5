"""Planning, running, validating and undoing migrations."""
