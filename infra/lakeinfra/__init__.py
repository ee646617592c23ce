"""The lake's infrastructure as a reusable Pulumi component (see lakeinfra.lake)."""
