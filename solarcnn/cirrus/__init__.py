"""cirrus."""
