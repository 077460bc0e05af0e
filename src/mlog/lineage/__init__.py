"""Lineage: which runs produced a run's inputs and which consumed its outputs, by content hash.

:mod:`mlog.lineage.index` keeps hash → producer and hash → consumer tables beside the
query index; :mod:`mlog.lineage.graph` walks them into a graph; :mod:`mlog.lineage.render`
turns a graph into a text tree, Graphviz or Mermaid.
"""
