"""`fanzoo train` (see fanzoo.training)."""
