"""What ``mlog run`` collects about a run, one module per concern; plain data, never prints."""
