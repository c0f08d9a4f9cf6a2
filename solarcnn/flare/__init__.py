"""flare."""
