"""query floor."""
