"""registry floor."""
