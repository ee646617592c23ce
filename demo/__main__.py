"""`make demo`: the README's walkthrough, run against a throwaway S3 test server on loopback.

Not MinIO and not the dev lake: a moto server that this starts and stops, given the dev
stack's buckets, layout and pipeline roles (IAM enforced). `make up` is the real thing.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

# The Pulumi program's package (the stand-in lake is the dev stack's own) lives in infra/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))

from tests.support.walkthrough import dev_lake, run_block, walkthrough_blocks

RULE = "-" * 78


def main() -> int:
    blocks = walkthrough_blocks()
    with tempfile.TemporaryDirectory(prefix="lakeops-demo-") as tmp:
        workdir = Path(tmp)
        print("Starting a local S3 test server (moto) on 127.0.0.1 ...", flush=True)
        with dev_lake(workdir) as lake:
            print(
                textwrap.dedent(
                    f"""
                    {RULE}
                    This is a LOCAL TEST SERVER ({lake.server.url}), not MinIO: a throwaway
                    stand-in with the dev stack's buckets, prefixes and pipeline roles, IAM
                    enforced. It stops when the demo ends. `make up` runs the real dev lake.
                    The checkout it stands in for: {workdir}
                    {RULE}
                    """
                ),
                flush=True,
            )
            for block in blocks:
                for step in run_block(block, lake):
                    shown = (
                        step.command
                        if block.lang != "python"
                        else "python - <<'EOF'\n" + step.command + "\nEOF"
                    )
                    print(f"$ {shown}", flush=True)
                    if step.output.strip():
                        print(textwrap.indent(step.output.rstrip(), "  "), flush=True)
                    if step.expected:
                        print(f"  (exit {step.code}, as the walkthrough says it should)")
                    if not step.ok:
                        print(f"\nthat step failed (exit {step.code}); the demo stops here.")
                        return 1
                print()
        print(f"{RULE}\nThe demo's test server is stopped and its data gone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
