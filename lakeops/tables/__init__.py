"""Silver and gold as Apache Iceberg tables, through pyiceberg (``lakeops[tables]``).

``Lake`` hands over to these modules: ``catalog`` (the stack's catalog, as the role),
``names`` (``NAMESPACE.TABLE`` and where it lives), ``write`` (appends, overwrites, published
datasets added as they are), ``checks`` and ``schema`` (the gate before a write), ``read``
(time travel), ``history`` (snapshots, rollback, expiry, verify), ``lineage`` (snapshot
summaries and OpenLineage events) and ``duckdb`` (tables by name in ``lake.duckdb()``).
pyiceberg is imported by the modules that need it, never by ``import lakeops``.
"""
