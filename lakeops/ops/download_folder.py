"""Writing downloaded files below a folder held open, so that no link is ever written through.

A dataset download writes many files below one folder, for minutes, while anyone who can
write into that folder could swap one of its sub-folders for a link to somewhere else; a
path, opened again for each file, would follow it. So the folder is opened once, and every
file is written relative to that directory descriptor: each folder on the way is opened with
``O_NOFOLLOW`` (a link there is refused, never followed), the temporary file is created with
``O_EXCL | O_NOFOLLOW`` in the folder so opened, and renamed onto its target within it
(``renameat``). No component of a path can be swapped under the job.

Where the platform has no ``*at`` calls (Windows), the same steps go by path, and every folder
on the way is checked for links just before it is used: a narrower guarantee, no worse than
the plan's own check.

lakeops' temporary files have one shape, ``.<name>.<12 hex digits>.lakeops-partial``, beside
their target: only files of exactly that shape, of a name the job would write, are ever
removed as left over by an interrupted download.
"""

from __future__ import annotations

import os
import re
import stat
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from lakeops.errors import LocalFileError
from lakeops.redaction import quoted

TEMPORARY_SUFFIX = ".lakeops-partial"
TEMPORARY_NAME = re.compile(r"^\.(?P<stem>.+)\.[0-9a-f]{12}\.lakeops-partial$", re.DOTALL)
# Of the target's name, the temporary repeats this many bytes at most: with the rest it stays
# far below every file system's 255-byte limit on a name.
_STEM_BYTES = 80

_AT_CALLS = {os.open, os.mkdir, os.rename, os.unlink, os.stat} <= os.supports_dir_fd
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_TEMPORARY_FLAGS = (
    os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | getattr(os, "O_BINARY", 0)
)


def temporary_stem(name: str) -> str:
    """The part of a file's name that its temporary file repeats."""
    return name.encode("utf-8", "surrogateescape")[:_STEM_BYTES].decode("utf-8", "ignore")


def temporary_name(name: str) -> str:
    # Six random bytes, not a UUID object: this runs once per downloaded file.
    return f".{temporary_stem(name)}.{os.urandom(6).hex()}{TEMPORARY_SUFFIX}"


def is_temporary(name: str) -> bool:
    """Whether ``name`` has the shape of lakeops' own temporary files."""
    return TEMPORARY_NAME.match(name) is not None


def temporary_of(name: str, stems: set[str]) -> bool:
    """Whether ``name`` is a temporary file lakeops makes for one of the names whose
    :func:`temporary_stem` is in ``stems``."""
    found = TEMPORARY_NAME.match(name)
    return found is not None and found["stem"] in stems


class DownloadFolder:
    """A folder that downloads are written into, held open from :meth:`open` to
    :meth:`close`."""

    def __init__(self, path: Path, descriptor: int | None) -> None:
        self.path = path
        self._fd = descriptor

    @classmethod
    def open(cls, path: Path) -> DownloadFolder:
        """Hold the folder at ``path`` open, creating it (and its parents) if needed. The path
        itself is the caller's to choose, links in it included; what lies below it is not."""
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not _AT_CALLS:
                return cls(path, None)
            return cls(path, os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC))
        except OSError as exc:
            raise LocalFileError(
                f"cannot use the folder {quoted(str(path))}: {exc.strerror}.",
                hint="Choose a writable folder.",
            ) from exc

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DownloadFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def temporary(self, relative: str) -> TemporaryFile:
        """A new temporary file beside ``relative`` (a '/'-separated path below the folder),
        its folders made as needed; :meth:`TemporaryFile.commit` renames it onto the target."""
        *folders, name = relative.split("/")
        parent = self._enter(folders, create=True, relative=relative)
        try:
            return TemporaryFile(self, parent, folders, name)
        except OSError as exc:
            self._leave(parent)
            raise LocalFileError(
                f"cannot write into {quoted(str(self.path.joinpath(*folders)))}: "
                f"{exc.strerror}; {quoted(relative)} was not written.",
                hint="Check the disk space and the folder's permissions.",
            ) from exc

    def remove_temporary(self, relative: str) -> None:
        """Remove a temporary file an interrupted download left, if it is still a file of
        that shape (never a link, never a folder); whatever is in the way is left alone."""
        *folders, name = relative.split("/")
        if not is_temporary(name):
            raise ValueError(f"not a temporary file's name: {name!r}")
        try:
            parent = self._enter(folders, create=False, relative=relative)
        except (LocalFileError, OSError):
            return
        try:
            found = self._lstat(parent, folders, name)
            if stat.S_ISREG(found.st_mode):
                self._unlink(parent, folders, name)
        except OSError:
            pass
        finally:
            self._leave(parent)

    # -- one folder at a time, never through a link ---------------------------------------------

    def _enter(self, folders: list[str], *, create: bool, relative: str) -> int | None:
        """The descriptor of ``folders`` below the held folder, each opened without following
        a link (None where the platform has no ``*at`` calls: the folders are checked by path
        instead)."""
        if self._fd is None:
            self._check_by_path(folders, create=create, relative=relative)
            return None
        current = os.dup(self._fd)
        try:
            for depth, folder in enumerate(folders):
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(folder, 0o777, dir_fd=current)
                try:
                    inner = os.open(folder, _FOLDER_FLAGS, dir_fd=current)
                except OSError as exc:
                    raise self._refusal(current, folders[: depth + 1], relative, exc) from exc
                os.close(current)
                current = inner
        except BaseException:
            os.close(current)
            raise
        return current

    def _refusal(self, parent: int, folders: list[str], relative: str, exc: OSError) -> Exception:
        try:
            found = os.stat(folders[-1], dir_fd=parent, follow_symlinks=False)
        except OSError:
            return exc
        where = quoted(str(self.path.joinpath(*folders)))
        if stat.S_ISLNK(found.st_mode):
            return LocalFileError(
                f"{where} is a link (put there during the download?); it is never written "
                f"through, so {quoted(relative)} was not written.",
                hint="Remove the link and run the download again.",
            )
        if not stat.S_ISDIR(found.st_mode):
            return LocalFileError(
                f"{where} is a file where a folder is needed; {quoted(relative)} was not written.",
                hint="Move the file away and run the download again.",
            )
        return exc

    def _check_by_path(self, folders: list[str], *, create: bool, relative: str) -> None:
        current = self.path
        for folder in folders:
            current = current / folder
            if current.is_symlink():
                raise LocalFileError(
                    f"{quoted(str(current))} is a link; it is never written through, so "
                    f"{quoted(relative)} was not written.",
                    hint="Remove the link and run the download again.",
                )
            if create:
                with suppress(FileExistsError):
                    current.mkdir()

    def _leave(self, descriptor: int | None) -> None:
        if descriptor is not None:
            os.close(descriptor)

    def _where(self, folders: list[str], name: str) -> Path:
        return self.path.joinpath(*folders, name)

    def _lstat(self, parent: int | None, folders: list[str], name: str) -> os.stat_result:
        if parent is None:
            return self._where(folders, name).lstat()
        return os.stat(name, dir_fd=parent, follow_symlinks=False)

    def _unlink(self, parent: int | None, folders: list[str], name: str) -> None:
        if parent is None:
            self._where(folders, name).unlink()
        else:
            os.unlink(name, dir_fd=parent)


class TemporaryFile:
    """A download's bytes on their way to the target: renamed onto it once complete and
    verified, else removed."""

    def __init__(
        self, folder: DownloadFolder, parent: int | None, folders: list[str], name: str
    ) -> None:
        self._folder, self._parent, self._folders = folder, parent, folders
        self.name, self.target_name = temporary_name(name), name
        if parent is None:
            descriptor = os.open(folder._where(folders, self.name), _TEMPORARY_FLAGS, 0o666)
        else:
            descriptor = os.open(self.name, _TEMPORARY_FLAGS, 0o666, dir_fd=parent)
        self.file: BinaryIO = os.fdopen(descriptor, "w+b")
        self._done = False

    def restart(self) -> None:
        """Empty it, for another attempt."""
        self.file.seek(0)
        self.file.truncate()

    def commit(self) -> None:
        """Rename it onto the target, within the folder it was made in."""
        self.file.close()
        if self._parent is None:
            self._folder._check_by_path(self._folders, create=False, relative=self.target_name)
            source = self._folder._where(self._folders, self.name)
            source.replace(self._folder._where(self._folders, self.target_name))
        else:
            os.rename(self.name, self.target_name, src_dir_fd=self._parent, dst_dir_fd=self._parent)
        self._done = True

    def close(self) -> None:
        """Remove it unless it was committed, and let go of its folder."""
        self.file.close()
        try:
            if not self._done:
                with suppress(OSError):
                    self._folder._unlink(self._parent, self._folders, self.name)
        finally:
            self._folder._leave(self._parent)
            self._parent = None

    def __enter__(self) -> TemporaryFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
