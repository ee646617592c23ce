"""The ``lakeops`` command line: the library's operations, for people and for scripts."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from lakeops._version import __version__
from lakeops.config import LakeConfig
from lakeops.errors import (
    AccessDeniedError,
    ConfigurationError,
    EndpointUnreachableError,
    ImmutableObjectError,
    IntegrityError,
    InvalidMetadataError,
    LakeOpsError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from lakeops.hashing import ProgressCallback
from lakeops.lake import Lake
from lakeops.sample import SampleFile, upload_sample
from lakeops.verify import FAIL, SKIP, verify_lake

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_CODES = [
    (EXIT_OK, "success"),
    (EXIT_DRIFT, "verify found drift"),
    (ValidationError.exit_code, "bad input or usage (nothing was sent)"),
    (ConfigurationError.exit_code, "configuration error"),
    (NotFoundError.exit_code, "bucket or object not found"),
    (ImmutableObjectError.exit_code, "bronze object exists with different content"),
    (AccessDeniedError.exit_code, "access denied or credentials rejected"),
    (EndpointUnreachableError.exit_code, "endpoint unreachable"),
    (IntegrityError.exit_code, "downloaded data failed its checksum"),
    (StorageError.exit_code, "other object-store error"),
    (LakeOpsError.exit_code, "other lakeops error"),
    (EXIT_INTERRUPTED, "interrupted"),
    (EXIT_BROKEN_PIPE, "the output pipe was closed (for example by head)"),
]


class UsageError(LakeOpsError):
    exit_code = EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own errors become one clean line
        raise UsageError(f"{message}.", hint=f"See `{self.prog} --help`.")


def _global_options(defaults: bool) -> _Parser:
    """Options valid before and after the subcommand; after it, they only override."""
    unset = None if defaults else argparse.SUPPRESS
    parser = _Parser(add_help=False)
    group = parser.add_argument_group("connection (override the environment and stack outputs)")
    group.add_argument("--endpoint-url", default=unset, help="S3 API URL (AWS_ENDPOINT_URL)")
    group.add_argument("--region", default=unset, help="region (AWS_REGION)")
    group.add_argument("--profile", default=unset, help="AWS profile (AWS_PROFILE)")
    group.add_argument("--backend", choices=["minio", "aws"], default=unset)
    group.add_argument("--stack", default=unset, help="Pulumi stack to read outputs of")
    group.add_argument("--outputs-file", default=unset, help="exported stack outputs JSON")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", default=False if defaults else unset)
    output.add_argument("--no-progress", action="store_true", default=False if defaults else unset)
    output.add_argument(
        "--debug",
        action="store_true",
        default=False if defaults else unset,
        help="log details and show tracebacks",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES)
    parser = _Parser(
        prog="lakeops",
        description="Move data through the lake's layers: bronze (raw), silver (staging), "
        "gold (curated).",
        epilog=f"exit codes:\n{codes}\n\nConfiguration precedence: options, then AWS_* and "
        "LAKEOPS_* variables, then stack outputs, then the dev defaults. See `lakeops config`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"lakeops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_global_options(defaults=False)]

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary, parents=common)

    command("config", "Show the resolved configuration and where each value came from.")

    ls = command("ls", "List a layer's objects under a prefix.")
    ls.add_argument("layer", help="bronze|silver|gold (or raw|staging|curated)")
    ls.add_argument("prefix", nargs="?", default="")
    ls.add_argument("--all", action="store_true", help="include the layout's prefix markers")

    upload = command("upload", "Upload a local file to a layer.")
    upload.add_argument("file", type=Path)
    upload.add_argument("layer")
    upload.add_argument("key")
    upload.add_argument(
        "--metadata",
        "-m",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="user metadata; repeat for more",
    )
    upload.add_argument("--content-type")

    download = command("download", "Download an object to a local file, atomically.")
    download.add_argument("layer")
    download.add_argument("key")
    download.add_argument("dest", nargs="?", type=Path, help="default: the key's file name")
    download.add_argument("--version-id")

    promote = command("promote", "Copy an object forward to a later layer, server-side.")
    promote.add_argument("source_layer")
    promote.add_argument("key")
    promote.add_argument("target_layer")
    promote.add_argument("target_key", nargs="?", help="default: the same key")
    promote.add_argument("--version-id", help="promote this version of the source")

    command("verify", "Check the live lake against the declared layout; exit 1 on drift.")
    command("sample", "Upload the bundled sample dataset to bronze (idempotent).")
    return parser


def _config(args: argparse.Namespace) -> LakeConfig:
    return LakeConfig.resolve(
        endpoint_url=args.endpoint_url,
        region=args.region,
        profile=args.profile,
        backend=args.backend,
        stack=args.stack,
        outputs_file=args.outputs_file,
    )


def _lake(args: argparse.Namespace) -> Lake:
    return Lake(_config(args))


def _metadata(pairs: Sequence[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise InvalidMetadataError(
                f"metadata {pair!r} is not NAME=VALUE.", hint="Write it as --metadata source=api."
            )
        if name in metadata:
            raise InvalidMetadataError(
                f"metadata {name!r} is given twice.", hint="Keep one --metadata per name."
            )
        metadata[name] = value
    return metadata


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, Path)):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return value


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for line in (headers, *rows):
        out.write("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        out.write("\n")


class _Bar:
    """A byte progress bar on stderr, drawn once the work starts and its size is known."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self._label = label
        self._stream = stream
        self._bar: tqdm[Any] | None = None

    def start(self, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(
                total=total,
                desc=self._label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self._stream,
                leave=False,
            )

    def __call__(self, amount: int) -> None:
        if self._bar is None:
            self.start(0)
        assert self._bar is not None
        self._bar.update(amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _Command:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.show_progress = not (args.no_progress or args.json) and err.isatty()

    def emit(self, document: Any) -> None:
        self.out.write(json.dumps(_jsonable(document), indent=2) + "\n")

    def finish(self, result: Any, line: str) -> int:
        """The command's result: as JSON with --json, else one line for people."""
        if self.args.json:
            self.emit(result)
        else:
            self.out.write(f"{line}\n")
        return EXIT_OK

    @contextmanager
    def bar(self, label: str) -> Iterator[ProgressCallback | None]:
        if not self.show_progress:
            yield None
            return
        bar = _Bar(label, self.err)
        try:
            yield bar
        finally:
            bar.close()

    def config(self) -> int:
        rows = _config(self.args).describe()
        if self.args.json:
            self.emit({name: {"value": value, "source": source} for name, value, source in rows})
        else:
            _table(rows, ("SETTING", "VALUE", "SOURCE"), self.out)
        return EXIT_OK

    def ls(self) -> int:
        entries = _lake(self.args).iter_objects(
            self.args.layer, self.args.prefix, include_markers=self.args.all
        )
        if self.args.json:
            # Streamed, so that millions of keys never sit in memory at once. The first page is
            # fetched before anything is written, so that an error leaves stdout empty.
            first = next(entries, None)
            self.out.write("[")
            for index, entry in enumerate(itertools.chain([first] if first else [], entries)):
                self.out.write(("," if index else "") + "\n  " + json.dumps(_jsonable(entry)))
            self.out.write("\n]\n")
            return EXIT_OK
        for entry in entries:
            when = entry["LastModified"].strftime("%Y-%m-%d %H:%M:%S")
            self.out.write(f"{when}  {_size(entry['Size']):>10}  {entry['Key']}\n")
        return EXIT_OK

    def upload(self) -> int:
        lake = _lake(self.args)
        with self.bar("hashing") as hashed, self.bar("uploading") as sent:
            result = lake.put_file(
                self.args.file,
                self.args.layer,
                self.args.key,
                _metadata(self.args.metadata),
                content_type=self.args.content_type,
                progress=sent,
                hash_progress=hashed,
            )
        note = "" if result.created else "  (already there, identical content)"
        return self.finish(result, f"{result.uri}{note}")

    def download(self) -> int:
        lake = _lake(self.args)
        dest = self.args.dest or Path(Path(self.args.key).name)
        with self.bar("downloading") as received, self.bar("verifying") as checked:
            result = lake.get_file(
                self.args.layer,
                self.args.key,
                dest,
                version_id=self.args.version_id,
                progress=received,
                hash_progress=checked,
            )
        return self.finish(result, str(result.path))

    def promote(self) -> int:
        lake = _lake(self.args)
        with self.bar("copying (server-side)") as copied:
            result = lake.promote_object(
                self.args.key,
                self.args.source_layer,
                self.args.target_layer,
                self.args.target_key,
                version_id=self.args.version_id,
                progress=copied,
            )
        return self.finish(result, result.uri)

    def verify(self) -> int:
        lake = _lake(self.args)
        checks = verify_lake(lake)
        ok = all(check.ok for check in checks)
        if self.args.json:
            self.emit({"ok": ok, "endpoint": lake.config.endpoint_label, "checks": checks})
        else:
            rows = [(c.check, c.layer, c.bucket, c.result, c.detail) for c in checks]
            _table(rows, ("CHECK", "LAYER", "BUCKET", "RESULT", "DETAIL"), self.out)
            failed = sum(check.result == FAIL for check in checks)
            skipped = sum(check.result == SKIP for check in checks)
            summary = "the lake matches its layout"
            if not ok:
                summary = f"drift: {failed} check(s) failed" + (
                    f", {skipped} skipped" if skipped else ""
                )
            self.out.write(f"\n{lake.config.endpoint_label}: {summary}\n")
        return EXIT_OK if ok else EXIT_DRIFT

    def sample(self) -> int:
        lake = _lake(self.args)
        bars: list[Any] = []

        def progress_for(sample: SampleFile) -> ProgressCallback | None:
            if not self.show_progress:
                return None
            bars.append(
                tqdm(desc=sample.name, unit="B", unit_scale=True, file=self.err, leave=False)
            )
            return bars[-1].update  # type: ignore[no-any-return]

        try:
            results = upload_sample(lake, progress_for)
        finally:
            for bar in bars:
                bar.close()
        if self.args.json:
            self.emit(results)
        else:
            for result in results:
                state = "uploaded" if result.created else "already there"
                self.out.write(f"{state:<14} {result.uri}  ({_size(result.size)})\n")
        return EXIT_OK


def _report(error: BaseException, as_json: bool, debug: bool, err: TextIO) -> None:
    message = str(error)
    if as_json:
        err.write(json.dumps({"error": type(error).__name__, "message": message}) + "\n")
    else:
        err.write(f"lakeops: error: {message}\n")
    if debug:
        traceback.print_exception(error, file=err)


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    words = list(sys.argv[1:] if argv is None else argv)
    # Known before parsing, so that even usage errors come out as JSON when asked.
    as_json, debug = "--json" in words, "--debug" in words
    try:
        args = build_parser().parse_args(words)
        if debug:
            logging.basicConfig(level=logging.WARNING, stream=err)
            logging.getLogger("lakeops").setLevel(logging.DEBUG)
        return int(getattr(_Command(args, out, err), args.command.replace("-", "_"))())
    except LakeOpsError as error:
        _report(error, as_json, debug, err)
        return error.exit_code
    except KeyboardInterrupt:
        _report(LakeOpsError("interrupted."), as_json, False, err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`lakeops ls ... | head`): stop quietly, as shell tools do.
        with suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115, PTH123 - silences the final flush
        return EXIT_BROKEN_PIPE
    except OSError as error:
        _report(LakeOpsError(f"{error}."), as_json, debug, err)
        return LakeOpsError.exit_code
    except SystemExit as done:  # --help and --version
        return int(done.code or 0)
