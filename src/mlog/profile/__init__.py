"""Know the data, not only its hash: tabular profiles, drift between them, model signatures.

``compute`` streams CSV, Parquet and JSON-lines files through pyarrow (the optional
``mlog-cli[data]`` extra, imported only there) into a small profile; ``drift`` compares
two profiles (columns added, removed, retyped, null rates, PSI per column);
``signature`` turns what a training script passes to ``mlog.log_signature`` into fields.
"""
