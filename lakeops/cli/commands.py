"""What each command does: the library's operations, shown for people or as JSON."""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import botocore.exceptions

from lakeops.cli.exits import EXIT_DRIFT, EXIT_OK, UsageError
from lakeops.cli.jsonshape import dataset_document, emit_ndjson, shaped
from lakeops.cli.listing import Selection, selected, write_listing
from lakeops.cli.output import (
    emit,
    emit_with_items,
    size,
    table,
    table_of,
)
from lakeops.cli.progress import JobBar, PhaseBar
from lakeops.cli.requestlog import RequestLog
from lakeops.cli.words import Place, Words
from lakeops.cli.writes import (
    binary_out,
    destination,
    planned_line,
    refuse_meaningless_options,
    replaced_note,
    unverified_warning,
)
from lakeops.client import make_session
from lakeops.config import LakeConfig, show_key_id
from lakeops.datasets.results import DatasetResult, plural
from lakeops.errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidMetadataError,
    LakeOpsError,
    LocalFileExistsError,
    NotFoundError,
)
from lakeops.hashing import ProgressCallback
from lakeops.lake import Lake
from lakeops.layout import LAYOUT
from lakeops.locations import is_uri, resolve
from lakeops.ops.listing import iter_objects, nearest_prefixes
from lakeops.redaction import quoted
from lakeops.sample import SampleFile, upload_sample
from lakeops.verify import FAIL, HISTORY_LIMIT, NOT_CHECKED, SKIP, verify_lake

log = logging.getLogger("lakeops.cli")


def resolve_config(args: argparse.Namespace, *, lenient: bool = False) -> LakeConfig:
    return LakeConfig.resolve(
        lenient=lenient,
        endpoint_url=args.endpoint_url,
        region=args.region,
        profile=args.profile,
        backend=args.backend,
        stack=args.stack,
        outputs_file=args.outputs_file,
        role=args.role,
        purpose=args.command,
    )


def _metadata(pairs: Sequence[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise InvalidMetadataError(
                f"metadata {quoted(pair)} is not NAME=VALUE.",
                hint="Write it as --metadata source=api.",
            )
        if name in metadata:
            raise InvalidMetadataError(
                f"metadata {quoted(name)} is given twice.", hint="Keep one --metadata per name."
            )
        metadata[name] = value
    return metadata


class Command:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.words = Words(
            getattr(args, "words", None) or getattr(args, "where", None) or [], args.command
        )
        self.show_progress = not (args.no_progress or args.json) and err.isatty()

    # -- plumbing ------------------------------------------------------------------------------

    def lake(self) -> Lake:
        lake = Lake(resolve_config(self.args))
        if self.args.debug:
            RequestLog().attach(lake.client)
        return lake

    def emit(self, document: Any) -> None:
        emit(shaped(document), self.out)

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
        bar = PhaseBar(label, self.err)
        try:
            yield bar
        finally:
            bar.finish()

    @contextmanager
    def job_bar(self, operation: str) -> Iterator[JobBar | None]:
        if not self.show_progress:
            yield None
            return
        bar = JobBar(operation, self.err)
        try:
            yield bar
        finally:
            bar.close()

    def dataset_result(self, result: DatasetResult, done: str) -> int:
        live = getattr(self.args, "live", False)
        if result.operation != "upload" and not result.from_manifest and not live:
            self.err.write(
                f"lakeops: note: {result.source} is not published (no manifest): the live "
                "objects were read, as listed now.\n"
            )
        if result.live_changed:
            self.err.write(
                f"lakeops: note: {plural(result.live_changed, 'object')} of {result.source} "
                "changed since it was published: the published versions were read, not the live "
                f"ones (`lakeops verify {result.source}` says which).\n"
            )
        if self.args.json:
            document = dataset_document(result)
            if result.dry_run:
                emit_with_items(document, result.items, self.out)
            else:
                self.emit(document)
            return self._refused(result)
        if result.dry_run:
            table_of(
                lambda: (
                    (item.action.value, size(item.size), item.relative, item.note)
                    for item in result.items
                ),
                ("ACTION", "SIZE", "PATH", "NOTE"),
                self.out,
            )
            self.out.write(
                f"\nplan: {result.new} new, {result.changed} changed, {result.identical} "
                f"identical, {result.conflicts} conflicting, {result.invalid} invalid; "
                f"{size(result.bytes_to_transfer)} to transfer of {size(result.bytes_total)}. "
                "Nothing was written (--dry-run).\n"
            )
            return self._refused(result)
        rate = result.bytes_transferred / result.seconds if result.seconds else 0
        self.out.write(
            f"{done} {plural(result.transferred, 'object')} ({size(result.bytes_transferred)}) in "
            f"{result.seconds:.1f} s ({size(rate)}/s): {result.source} -> {result.target}; "
            f"{result.skipped} skipped as already there.\n"
        )
        if result.manifest_uri:
            state = "published" if result.published else "already published, identical"
            self.out.write(f"{state}: {result.manifest_uri}\n")
        return EXIT_OK

    def _refused(self, result: DatasetResult) -> int:
        """A dry run of a job that would be refused exits as that job would."""
        if result.refusal is None:
            return EXIT_OK
        if not self.args.json:
            self.err.write(f"lakeops: error: the job would be refused: {result.refusal}\n")
        return result.refusal_exit_code or EXIT_OK

    # -- configuration -------------------------------------------------------------------------

    def config(self) -> int:
        """Everything that will really be used, even where something is wrong (shown as a
        problem, exit 3): keys a profile or the AWS chain provides are looked up and shown
        masked, with the provider that found them."""
        config = resolve_config(self.args, lenient=True)
        rows = config.describe()
        problems = list(config.problems)
        if config.access_key_id is None:
            rows, found = _chain_credentials(config, rows)
            if found is not None:
                problems.append(found)
        if self.args.json:
            self.emit(
                {
                    "settings": {n: {"value": v, "source": s} for n, v, s in rows},
                    "problems": problems,
                }
            )
        else:
            table(rows, ("SETTING", "VALUE", "SOURCE"), self.out)
            for problem in problems:
                self.out.write(f"\nproblem: {problem}\n")
        return ConfigurationError.exit_code if problems else EXIT_OK

    def env(self) -> int:
        from lakeops.readers import credentials_expiry, environment, render_environment

        lake = self.lake()
        values = environment(lake, show_secrets=self.args.show_secrets)
        self.out.write(render_environment(values, "json" if self.args.json else self.args.format))
        expiry = credentials_expiry(lake) if lake.config.role_arn else None
        if expiry is not None:
            self.err.write(
                f"lakeops: role {lake.config.role}'s keys are temporary: they expire at "
                f"{expiry:%Y-%m-%d %H:%M:%S %Z}; run `lakeops env` again then.\n"
            )
        return EXIT_OK

    # -- looking -------------------------------------------------------------------------------

    def ls(self) -> int:
        place = self.words.place("LAYER", key_optional=True)
        self.words.done()
        lake = self.lake()
        layer, typed = resolve(lake.config.buckets, place.layer, place.key)
        selection = Selection.of(typed or "", recursive=self.args.recursive)
        entries = selected(
            iter_objects(
                lake.context,
                layer,
                selection.prefix,
                include_markers=self.args.all,
                delimiter=None if self.args.recursive else "/",
            ),
            selection,
        )
        first = next(entries, None)
        if first is None:
            return self._nothing_matched(lake, place)
        write_listing(
            itertools.chain([first], entries),
            self.out,
            as_json=self.args.json,
            summarize=self.args.summarize,
        )
        return EXIT_OK

    def _nothing_matched(self, lake: Lake, place: Place) -> int:
        """Say so: a layer or declared prefix that is still empty is news (exit 0); a prefix
        that matches nothing is probably mistyped (exit 4, with the nearest ones)."""
        layer, prefix = resolve(lake.config.buckets, place.layer, place.key)
        prefix = prefix or ""
        where = lake.uri(layer, prefix)
        if self.args.summarize:
            write_listing([], self.out, as_json=self.args.json, summarize=True)
        if prefix == "" or prefix in LAYOUT[layer].prefixes:
            what = f"{layer} ({where})" if prefix == "" else where
            self.err.write(f"lakeops: {what} holds no objects yet.\n")
            return EXIT_OK
        parent = prefix[: prefix.rstrip("/").rfind("/") + 1]
        suggestions = (
            [] if "*" in prefix or "?" in prefix else nearest_prefixes(lake.context, layer, prefix)
        )
        hint = (
            f"Did you mean {' or '.join(repr(s) for s in suggestions)}?"
            if suggestions
            else f"`{f'lakeops ls {layer} {parent}'.strip()}` lists what is there."
        )
        raise NotFoundError(f"nothing matched {where}.", hint=hint)

    def stat(self) -> int:
        place = self.words.place("LAYER KEY")
        self.words.done()
        info = self.lake().stat(place.layer, place.key, version_id=self.args.version_id)
        if self.args.json:
            self.emit(info)
            return EXIT_OK
        rows = [
            ("uri", info.uri),
            ("size", f"{info.size} ({size(info.size)})"),
            ("version", info.version_id or "null (unversioned)"),
            ("last modified", info.last_modified or ""),
            ("etag", info.etag),
            ("sha256", info.sha256 or "(not recorded: written by another tool)"),
            ("content type", info.content_type or ""),
            *((f"metadata {name}", value) for name, value in sorted(info.metadata.items())),
        ]
        if info.lineage is not None:
            rows += [
                ("promoted from", info.lineage.source_uri),
                ("  source version", info.lineage.source_version_id or "null"),
                ("  source etag", info.lineage.source_etag or ""),
                ("  promoted at", info.lineage.promoted_at or ""),
            ]
        else:
            rows.append(("lineage", "none: uploaded, not promoted"))
        table(rows, ("FIELD", "VALUE"), self.out)
        return EXIT_OK

    def versions(self) -> int:
        place = self.words.place("LAYER KEY")
        self.words.done()
        history = self.lake().list_versions(place.layer, place.key)
        if not history:
            raise NotFoundError(f"{place} has no versions: it was never written.")
        if self.args.json:
            emit_ndjson(history, self.out)
            return EXIT_OK
        rows = [
            (
                v.version_id or "null",
                v.last_modified.strftime("%Y-%m-%d %H:%M:%S"),
                "delete marker" if v.is_delete_marker else size(v.size or 0),
                "current" if v.is_latest else "",
            )
            for v in history
        ]
        table(rows, ("VERSION", "WRITTEN", "SIZE", ""), self.out)
        return EXIT_OK

    # -- moving one object ---------------------------------------------------------------------

    def upload(self) -> int:
        refuse_meaningless_options(self.args)
        if self.args.recursive:
            return self._upload_folder()
        file = self.words.one("FILE")
        place = self.words.place("LAYER KEY")
        self.words.done()
        lake = self.lake()
        if self.args.dry_run:
            plan = lake.preview_upload(
                file,  # type: ignore[arg-type]
                place.layer,
                place.key,
                _metadata(self.args.metadata),
                content_type=self.args.content_type,
            )
            return self.finish(plan, planned_line(plan))
        with self.bar("hashing") as hashed, self.bar("uploading") as sent:
            result = lake.put_file(
                file,  # type: ignore[arg-type]
                place.layer,
                place.key,
                _metadata(self.args.metadata),
                content_type=self.args.content_type,
                progress=sent,
                hash_progress=hashed,
                report_replaced=True,
            )
        note = replaced_note(result) if result.created else "  (already there, identical content)"
        return self.finish(result, f"{result.uri}{note}")

    def download(self) -> int:
        refuse_meaningless_options(self.args)
        if self.args.recursive:
            return self._download_prefix()
        place = self.words.place("LAYER KEY")
        dest_word = self.words.one("DEST", optional=True)
        self.words.done()
        key = place.key if place.key is not None else place.layer
        if dest_word == "-":
            return self._download_to_stdout(place)
        dest = destination(dest_word, key)
        if dest.exists() and not dest.is_dir() and not self.args.force:
            raise LocalFileExistsError(
                f"local file {quoted(str(dest))} exists; nothing was downloaded.",
                hint="Pass --force to replace it (it is replaced only once the download is "
                "verified), or give another destination.",
            )
        lake = self.lake()
        if self.args.dry_run:
            plan = lake.preview_download(
                place.layer,
                place.key,
                str(dest),
                version_id=self.args.version_id,
                check_published=not self.args.live,
            )
            return self.finish(plan, planned_line(plan))
        with self.bar("downloading") as received, self.bar("verifying") as checked:
            result = lake.get_file(
                place.layer,
                place.key,
                dest,
                version_id=self.args.version_id,
                progress=received,
                hash_progress=checked,
                check_published=not self.args.live,
            )
        warning = unverified_warning(result)
        if warning:
            self.err.write(warning)
        return self.finish(result, str(result.path))

    def _download_to_stdout(self, place: Place) -> int:
        """``download LAYER KEY -``: the bytes to stdout, as aws-cli, s5cmd and mc do."""
        if self.args.json or self.args.dry_run or self.args.force:
            flag = "--json" if self.args.json else "--dry-run" if self.args.dry_run else "--force"
            raise UsageError(
                f"{flag} cannot go with '-': stdout carries the object's bytes.",
                hint="Download to a file to use it.",
            )
        result = self.lake().stream_file(
            place.layer,
            place.key,
            binary_out(self.out),
            version_id=self.args.version_id,
            check_published=not self.args.live,
        )
        warning = unverified_warning(result)
        if warning:
            self.err.write(warning)
        return EXIT_OK

    def promote(self) -> int:
        refuse_meaningless_options(self.args)
        if self.args.recursive:
            return self._promote_prefix()
        source = self.words.place("SOURCE_LAYER KEY")
        target = self.words.target("TARGET_LAYER")
        self.words.done()
        if target is None or (target.key is None and not is_uri(target.layer)):
            raise UsageError(
                "promote needs a target layer and key (or a URI) after the source: each layer "
                "has its own prefixes, so the key changes.",
                hint="For example `lakeops promote bronze postgres/users/u.csv silver "
                "cleaned/users/u.csv`.",
            )
        lake = self.lake()
        if self.args.dry_run:
            plan = lake.preview_promote(
                *_as_key_and_layer(source),
                *_as_layer_and_key(target),
                version_id=self.args.version_id,
            )
            return self.finish(plan, planned_line(plan))
        with self.bar("copying (server-side)") as copied:
            result = lake.promote_object(
                *_as_key_and_layer(source),
                *_as_layer_and_key(target),
                version_id=self.args.version_id,
                progress=copied,
                report_replaced=True,
            )
        return self.finish(result, f"{result.uri}{replaced_note(result)}")

    def rm(self) -> int:
        from lakeops.cli.remove import rm

        return rm(self)

    # -- moving datasets -----------------------------------------------------------------------

    def _upload_folder(self) -> int:
        folder = self.words.one("DIR")
        place = self.words.place("LAYER PREFIX")
        self.words.done()
        lake = self.lake()
        with self.job_bar("upload") as bar:
            result = lake.upload_folder(
                folder,  # type: ignore[arg-type]
                place.layer,
                place.key,
                include=self.args.include,
                exclude=self.args.exclude,
                metadata=_metadata(self.args.metadata),
                workers=self.args.workers,
                dry_run=self.args.dry_run,
                skip_conflicts=self.args.skip_conflicts,
                publish=not self.args.no_publish,
                progress=bar,
            )
        return self.dataset_result(result, "uploaded")

    def _download_prefix(self) -> int:
        place = self.words.place("LAYER PREFIX")
        folder = self.words.one("DIR")
        self.words.done()
        lake = self.lake()
        with self.job_bar("download") as bar:
            result = lake.download_prefix(
                place.layer,
                place.key,
                folder,
                include=self.args.include,
                exclude=self.args.exclude,
                workers=self.args.workers,
                dry_run=self.args.dry_run,
                overwrite=self.args.force,
                use_manifest=False if self.args.live else None,
                progress=bar,
            )
        return self.dataset_result(result, "downloaded")

    def _promote_prefix(self) -> int:
        source = self.words.place("SOURCE_LAYER PREFIX", key_optional=True)
        target = self.words.target("TARGET_LAYER PREFIX")
        self.words.done()
        if target is None:
            raise UsageError(
                "promote --recursive needs a target layer and prefix (or a URI).",
                hint="See `lakeops promote --help`.",
            )
        lake = self.lake()
        with self.job_bar("promote") as bar:
            result = lake.promote_prefix(
                source.layer,
                source.key,
                *_as_layer_and_key(target),
                include=self.args.include,
                exclude=self.args.exclude,
                workers=self.args.workers,
                dry_run=self.args.dry_run,
                publish=not self.args.no_publish,
                lineage=self.args.lineage,
                progress=bar,
            )
        return self.dataset_result(result, "promoted")

    # -- checking ------------------------------------------------------------------------------

    def verify(self) -> int:
        if self.words._words:
            return self._verify_dataset()
        lake = self.lake()
        checks = verify_lake(lake, history_limit=None if self.args.history else HISTORY_LIMIT)
        ok = all(check.ok for check in checks)
        drift = any(check.drift for check in checks)
        denied = sum(check.result == NOT_CHECKED for check in checks)
        if self.args.json:
            self.emit({"ok": ok, "endpoint": lake.config.endpoint_label, "checks": checks})
        else:
            rows = [(c.check, c.layer, c.bucket, c.result, c.detail) for c in checks]
            table(rows, ("CHECK", "LAYER", "BUCKET", "RESULT", "DETAIL"), self.out)
            failed = sum(check.result == FAIL for check in checks)
            skipped = sum(check.result == SKIP for check in checks)
            summary = "the lake matches its layout"
            if drift:
                summary = f"drift: {failed} check(s) failed" + (
                    f", {skipped} skipped" if skipped else ""
                )
            if denied:
                made = f"no drift in the {len(checks) - denied} checks made"
                summary = f"{summary if drift else made}; {denied} not checked (access denied)"
            self.out.write(f"\n{lake.config.endpoint_label}: {summary}\n")
        if drift:
            return EXIT_DRIFT
        if denied:
            who = f"role {lake.config.role!r}" if lake.config.role else "these credentials"
            raise AccessDeniedError(
                f"verify could not make {denied} of {len(checks)} checks: access denied to {who}.",
                hint="verify reads every bucket's configuration: run it with the admin login "
                "(the MinIO root login, or the deployer's AWS credentials), without --role.",
            )
        return EXIT_OK

    def _verify_dataset(self) -> int:
        place = self.words.place("LAYER PREFIX", key_optional=True)
        self.words.done()
        lake = self.lake()
        with self.bar("verifying" if self.args.deep else "checking") as progress:
            report = lake.verify_dataset(
                place.layer, place.key, deep=self.args.deep, progress=progress
            )
        if self.args.json:
            self.emit(report)
        else:
            rows = [(r.key, r.result, r.detail) for r in report.rows if not r.ok]
            if rows:
                table(rows, ("KEY", "RESULT", "DETAIL"), self.out)
                self.out.write("\n")
            self.out.write(f"{report.dataset}: {report.summary()}\n")
        return EXIT_OK if report.ok else EXIT_DRIFT

    def sample(self) -> int:
        lake = self.lake()
        bars: list[PhaseBar] = []

        def progress_for(sample: SampleFile) -> ProgressCallback | None:
            if not self.show_progress:
                return None
            bars.append(PhaseBar(sample.name, self.err))
            return bars[-1]

        try:
            results = upload_sample(lake, progress_for)
        finally:
            for bar in bars:
                bar.finish()
        if self.args.json:
            self.emit(results)
        else:
            for result in results:
                state = "uploaded" if result.created else "already there"
                self.out.write(f"{state:<14} {result.uri}  ({size(result.size)})\n")
        return EXIT_OK


def _no_credentials(config: LakeConfig) -> str:
    """Where the credentials were looked for, and what to do about it."""
    if config.profile is not None:
        where = config.sources.get("profile", "")
        return (
            f"no credentials found in AWS profile {config.profile!r} (from {where}): log in "
            f"to it (aws sso login --profile {config.profile}), or give it keys in "
            "~/.aws/credentials, or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."
        )
    return (
        "no credentials found in boto3's default chain (environment, ~/.aws files, container "
        "and instance roles; AWS_PROFILE is not set): set AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or log in (aws sso login)."
    )


def _chain_credentials(
    config: LakeConfig, rows: list[tuple[str, str, str]]
) -> tuple[list[tuple[str, str, str]], str | None]:
    """``rows`` with the keys a profile or the AWS chain gives, or the problem that it gives
    none."""
    try:
        found = make_session(config).get_credentials()
    except (botocore.exceptions.BotoCoreError, LakeOpsError) as exc:
        return rows, f"credentials: {type(exc).__name__}: {exc}"
    if found is None:
        return rows, _no_credentials(config)
    frozen = found.get_frozen_credentials()
    method = getattr(found, "method", "") or "boto3"
    source = {name: where for name, _, where in rows}.get("access_key_id", "")
    shown = {
        "access_key_id": show_key_id(frozen.access_key),
        "secret_access_key": "****",
        "session_token": "****" if frozen.token else "(not set)",
    }
    return [
        (name, shown.get(name, value), f"{source} ({method})" if name in shown else where)
        for name, value, where in rows
    ], None


def _as_layer_and_key(place: Place) -> tuple[str | None, str | None]:
    """(layer, key) for the library, which takes a lone URI in the key's place."""
    if place.key is None and is_uri(place.layer):
        return None, place.layer
    return place.layer, place.key


def _as_key_and_layer(place: Place) -> tuple[str, str | None]:
    layer, key = _as_layer_and_key(place)
    return key or "", layer
