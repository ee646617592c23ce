"""Datasets: whole folders and prefixes moved through the lake, resumably, and published.

The package plans (plan), runs (runner), publishes (manifest) and verifies (verify) dataset
jobs on top of the single-object operations of lakeops.ops, and never reaches into boto3
around them.
"""
