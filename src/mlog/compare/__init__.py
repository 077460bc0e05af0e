"""compare floor."""
