"""slic."""
