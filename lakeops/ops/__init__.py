"""The lake's operations, one module each, on a shared :class:`~lakeops.ops.context.Context`.

``Lake`` (lakeops.lake) is the façade users see; each of its methods hands over to one of
these modules. The dataset layer (lakeops.datasets) runs the same single-object operations
across many objects, telling them what its plan already knows so that they send no request a
plan made unnecessary.
"""
