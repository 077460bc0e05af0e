"""storage floor."""
