"""Entry point of the Pulumi program (Pulumi.yaml: main: infra/)."""

from lakeinfra.program import main

main()
