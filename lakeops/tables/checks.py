"""Quality checks: the gate a table write passes before anything is written.

A check sees the data about to be committed, as a PyArrow table, and answers with one of:

* ``True`` or ``None``: passed; ``False``: failed (a whole-table check, no row count);
* a whole number: how many rows failed (0 passed);
* one boolean per row (a PyArrow array, a NumPy array, a pandas or Polars series, a list):
  which rows pass; false and null count as failed.

``checks`` is a list of callables (each named by its ``__name__``), or a mapping from name to
callable, or a pandera schema (``lakeops[pandera]``), which validates the data as a pandas
frame and counts the rows its failure cases name. Every check runs, so that one error names
every failure; then, if any failed, :class:`~lakeops.errors.ChecksFailedError` is raised
before a single file is written, so the table's current snapshot stays as it was and no data
file is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lakeops.errors import ChecksFailedError, ValidationError


@dataclass(frozen=True)
class CheckFailure:
    check: str
    rows: int | None  # None: a whole-table check, or the check itself raised
    detail: str = ""

    def __str__(self) -> str:
        if self.detail:
            return f"{self.check} ({self.detail})"
        if self.rows is None:
            return f"{self.check} (the whole table)"
        return f"{self.check} ({self.rows} row{'s' if self.rows != 1 else ''})"


def _named(checks: object) -> Iterator[tuple[str, Any]]:
    if checks is None:
        return
    if isinstance(checks, Mapping):
        yield from ((str(name), check) for name, check in checks.items())
        return
    if _is_pandera(checks) or callable(checks):
        checks = [checks]
    if not isinstance(checks, Sequence):
        raise ValidationError(
            f"checks must be a list of callables, a mapping of names to callables, or a "
            f"pandera schema, not {type(checks).__name__}.",
            hint="For example checks=[lambda t: pc.is_valid(t['email'])].",
        )
    for check in checks:
        name = getattr(check, "name", None) if _is_pandera(check) else None
        yield str(name or getattr(check, "__name__", None) or repr(check)[:60]), check


def _is_pandera(check: object) -> bool:
    return type(check).__module__.startswith("pandera") and hasattr(check, "validate")


def run_checks(checks: object, data: Any) -> None:
    """Run every check on ``data`` (a PyArrow table); raise if any failed."""
    failures = []
    for name, check in _named(checks):
        if _is_pandera(check):
            failure = _pandera(name, check, data)
        elif callable(check):
            failure = _callable(name, check, data)
        else:
            raise ValidationError(f"check {name!r} is not callable.")
        if failure is not None:
            failures.append(failure)
    if failures:
        raise ChecksFailedError(
            f"{len(failures)} quality check{'s' if len(failures) != 1 else ''} failed on "
            f"{data.num_rows} rows: {'; '.join(str(f) for f in failures)}. Nothing was "
            "written: the table is as it was.",
            hint="Fix the data (or the check), then write again.",
            failures=failures,
        )


def _callable(name: str, check: Callable[[Any], Any], data: Any) -> CheckFailure | None:
    try:
        answer = check(data)
    except Exception as exc:
        return CheckFailure(name, None, f"raised {type(exc).__name__}: {str(exc)[:200]}")
    if answer is None or answer is True:
        return None
    if answer is False:
        return CheckFailure(name, None)
    if isinstance(answer, int):
        return CheckFailure(name, answer) if answer else None
    failed = _failed_rows(answer, data.num_rows, name)
    return CheckFailure(name, failed) if failed else None


def _failed_rows(answer: Any, rows: int, name: str) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        mask = answer if isinstance(answer, pa.Array | pa.ChunkedArray) else pa.array(answer)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        try:  # pandas and Polars series
            mask = pa.array(answer.to_numpy() if hasattr(answer, "to_numpy") else list(answer))
        except Exception as exc:
            raise ValidationError(
                f"check {name!r} answered {type(answer).__name__}, not a boolean, a count or a "
                "boolean per row.",
            ) from exc
    if not pa.types.is_boolean(mask.type) or len(mask) != rows:
        raise ValidationError(
            f"check {name!r} answered {len(mask)} values of type {mask.type} for {rows} rows; "
            "a check answers one boolean per row, a count of failed rows, or a boolean.",
        )
    passed = pc.sum(pc.fill_null(mask, False)).as_py() or 0
    return rows - int(passed)


def _pandera(name: str, schema: Any, data: Any) -> CheckFailure | None:
    from pandera.errors import SchemaError, SchemaErrors

    frame = data.to_pandas()
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        indexes = cases["index"].dropna() if "index" in cases else []
        rows = len(set(indexes)) if len(indexes) else None
        what = sorted({str(check) for check in cases.get("check", [])})[:5]
        return CheckFailure(name, rows, f"{rows or 'whole table'}; failed: {', '.join(what)}")
    except SchemaError as error:
        return CheckFailure(name, None, str(error)[:200])
    return None
