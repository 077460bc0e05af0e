"""Content-addressed artifact store on object storage (S3, GCS, Azure, a folder) via fsspec.

Objects live at ``<root>/<algorithm>/<first two hex>/<rest of hex>``, named by the digest
the record pins. They are written once, never overwritten and never deleted by mlog. A
directory or glob artifact is one object per file plus its tree listing (the bytes its
tree digest hashes), uploaded last, so a listing on the remote means all its files are.
"""
