"""The ``lakeops`` command line: the library's operations, for people and for scripts."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from lakeops.cli.exits import EXIT_BROKEN_PIPE, EXIT_CODES, EXIT_INTERRUPTED
from lakeops.cli.output import printable
from lakeops.cli.parser import build_parser
from lakeops.cli.tables import TableCommand
from lakeops.datasets.runner import JobInterrupted
from lakeops.errors import LakeOpsError
from lakeops.redaction import ScrubbingFilter, scrub

__all__ = ["EXIT_CODES", "build_parser", "main"]


# Erase the terminal's current line: a bar that Ctrl-C cut off mid-drawing (inside tqdm, after
# it had marked itself closed) would otherwise stay under the error line.
_ERASE_LINE = "\r\x1b[K"


def _report(error: BaseException, as_json: bool, debug: bool, err: TextIO, out: TextIO) -> None:
    if err.isatty():
        err.write(_ERASE_LINE)
    # A key or name another tool wrote may hold escape sequences: shown, never obeyed.
    message = printable(scrub(str(error)))
    result = getattr(error, "result", None)
    if as_json:
        if result is not None:
            from lakeops.cli.jsonshape import dataset_document, shaped
            from lakeops.cli.output import emit
            from lakeops.datasets.results import DatasetResult

            # The same schema as a finished job's (docs/reference.md, "JSON output").
            document = (
                {**dataset_document(result), "items": shaped(result.items)}
                if isinstance(result, DatasetResult)
                else shaped(result)
            )
            if isinstance(document, dict) and not document.get("dry_run"):
                document.pop("items", None)
            emit(document, out)
        err.write(json.dumps({"error": type(error).__name__, "message": message}) + "\n")
    else:
        err.write(f"lakeops: error: {message}\n")
    if debug:
        err.write(scrub("".join(traceback.format_exception(error))))


class _BarSafeHandler(logging.Handler):
    """Writes log lines through tqdm, which lifts any progress bar off the screen first and
    draws it again below, so a warning during a job is not left inside a half-drawn bar."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm  # imported when there is something to say: start-up stays quick

        try:
            tqdm.write(printable(self.format(record)), file=self._stream)
        except Exception:  # logging must never end the command
            self.handleError(record)


@contextmanager
def _logging(debug: bool, err: TextIO) -> Iterator[None]:
    """lakeops' warnings go to stderr as "lakeops: warning: ..."; with --debug, every log line
    (one per request among them). All are scrubbed of every known secret; botocore's own
    debug output stays off, since it dumps headers."""
    handler = _BarSafeHandler(err)
    handler.addFilter(ScrubbingFilter())
    shown = "lakeops: %(name)s: %(message)s" if debug else "lakeops: warning: %(message)s"
    handler.setFormatter(logging.Formatter(shown))
    logger = logging.getLogger("lakeops")
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False  # the root logger's last-resort handler would print it again
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a `kill`, a container stopping) ends a command as Ctrl-C does: transfers are
    given up cleanly and temporary files removed, instead of the process vanishing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(  # noqa: PLR0911 - one exit status per kind of outcome
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    words = list(sys.argv[1:] if argv is None else argv)
    # Known before parsing, so that even usage errors come out as JSON when asked.
    as_json, debug = "--json" in words, "--debug" in words
    try:
        with _sigterm_interrupts(), _logging(debug, err):
            args = build_parser().parse_args(words)
            return int(getattr(TableCommand(args, out, err), args.command.replace("-", "_"))())
    except LakeOpsError as error:
        _report(error, as_json, debug, err, out)
        return error.exit_code
    except JobInterrupted as stopped:
        result: Any = stopped.result
        done = (
            f"{result.transferred} of {result.new + result.changed} objects were done"
            if result
            else ""
        )
        _report(
            LakeOpsError(f"interrupted; {done}.", hint="Run the same command again to finish."),
            as_json,
            False,
            err,
            out,
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _report(LakeOpsError("interrupted."), as_json, False, err, out)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`lakeops ls ... | head`): stop quietly, as shell tools do.
        with suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115, PTH123 - silences the final flush
        return EXIT_BROKEN_PIPE
    except OSError as error:
        _report(LakeOpsError(f"{error}."), as_json, debug, err, out)
        return LakeOpsError.exit_code
    except SystemExit as done:  # --help and --version
        return int(done.code or 0)
    except Exception as error:  # a lakeops bug: still one line, and never exit 1 ("drift")
        _report(
            LakeOpsError(
                f"internal error: {type(error).__name__}: {error}",
                hint="This is a bug in lakeops. Please report it with the output of the same "
                "command run with --debug.",
            ),
            as_json,
            False,
            err,
            out,
        )
        if debug:
            err.write(scrub("".join(traceback.format_exception(error))))
        return LakeOpsError.exit_code
