"""What enters or leaves mlog: MLflow runs and models, in-toto provenance, Parquet tables."""
