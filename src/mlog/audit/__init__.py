"""audit floor."""
