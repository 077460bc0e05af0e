"""The two environment variables that connect a training script to the run recording it.

Kept in a module of their own, free of imports, so that both the light public API
(``import mlog``) and the run session can name them without importing each other.
"""

from __future__ import annotations

SPOOL_ENV = "MLOG_SPOOL"
"""Path of the spool file the Python API appends its JSON lines to."""

RUN_ID_ENV = "MLOG_RUN_ID"
"""Id of the run in progress, for scripts that want to name it."""
