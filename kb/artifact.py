"""Index artifacts: one generation as a single archive, to build the index once and serve it anywhere.

`export_generation` writes the live generation as a gzip'd tar: first `kb-artifact.json` (format, kb version,
build stamp, generation id, and every file's size and SHA-256), then the generation's `manifest.json` and Whoosh
files, all flat, regular files. The content folder is not needed to serve it: the index stores every field a
search, a page or a section returns.

`import_generation` trusts nothing in the archive: it reads it as a stream, accepts only regular files with plain
names (no folders, links, devices, `..`, absolute paths or hidden names), each listed in the artifact's own index
with its size and checksum, writes them with O_EXCL|O_NOFOLLOW into a new generation folder inside the index
folder, checks that kb can search it (stamp, manifest checksums, document count), and only then publishes it through
the store, under the writer lock, as any reindex does. A refused archive leaves the live index as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from . import __version__
from .errors import ArtifactError, IndexDamaged, IndexUnusable
from .locking import LOCK_NAME, PIN_NAME, WriterLock, claim, pin
from .manifest import Manifest, format_stamp
from .store import GEN_NAME, MANIFEST, IndexStore, file_digest, write_error

ARTIFACT = "kb-artifact.json"
FORMAT = "kb-index-artifact"
FORMAT_VERSION = 1
MAX_META_BYTES = 4 * 1024 * 1024
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
OLD_GENERATION_WAIT = 5.0
_BROKEN = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)

Note = Callable[[str], None]


@dataclass(frozen=True)
class ArtifactReport:
    """What an export wrote or an import published."""

    file: str
    generation: str
    built: str
    pages: int
    sections: int
    bytes: int
    removed: int = 0  # old generations deleted by an import
    kept: int = 0  # old generations still open by a running server (the next import or reindex removes them)
    published: bool = True  # False: the archive's generation was already the live one


# -- export --------------------------------------------------------------------------------------------------

def export_generation(store: IndexStore, file: Path) -> ArtifactReport:
    """Write the live generation to `file` (atomically: a partial archive never takes its name)."""
    gen, why = store.diagnose()
    if gen is None:
        if why:
            raise IndexDamaged(f"index in {store.folder} is damaged ({why})", fix="reindex")
        raise IndexUnusable(f"no index in {store.folder} to export", fix="reindex")
    held = pin(gen)
    if held is None:
        raise IndexUnusable(f"the index in {store.folder} changed during the export; run it again")
    try:
        manifest = store.manifest(gen)
        if manifest is None:
            raise IndexDamaged(f"index in {store.folder} is damaged (its manifest is missing or unreadable)",
                               fix="reindex")
        problem = store.verify(gen, manifest, deep=True)
        if problem:
            raise IndexDamaged(f"index in {store.folder} is damaged ({problem})", fix="reindex")
        names = [MANIFEST, *sorted(manifest.index)]
        files = {name: {"size": (gen / name).stat().st_size, "sha256": file_digest(gen / name, "sha256")}
                 for name in names}
        built = _built(gen)
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "kb": __version__, "stamp": manifest.stamp,
                "generation": gen.name, "built": built, "files": files}
        size = _write_archive(file, gen, meta, names)
    finally:
        held.release()
    pages, sections = manifest.size()
    return ArtifactReport(str(file), gen.name, built, pages, sections, size)


def _write_archive(file: Path, gen: Path, meta: dict[str, Any], names: list[str]) -> int:
    if file.is_dir():
        raise ArtifactError(f"{file} is a folder; name the archive file to write, e.g. {file / 'index.tar.gz'}")
    if file.is_symlink() or (file.exists() and not file.is_file()):
        # the archive takes the name by a rename: a link, FIFO or device there would be replaced, not written to
        raise ArtifactError(f"{file} is not a regular file (a link, FIFO or device); name a new file, or a "
                            "regular one to replace")
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
                body = json.dumps(meta, indent=1, sort_keys=True).encode("utf-8")
                tar.addfile(_member(ARTIFACT, len(body), time.time()), io.BytesIO(body))
                for name in names:
                    path = gen / name
                    stat = path.stat()
                    with open(path, "rb") as fh:
                        tar.addfile(_member(name, stat.st_size, stat.st_mtime), fh)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArtifactError(f"cannot write {file} ({exc.strerror or exc}); pass another FILE") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return file.stat().st_size


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, int(mtime), 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# -- import --------------------------------------------------------------------------------------------------

def import_generation(store: IndexStore, file: Path, *, lock_timeout: float = 10.0, note: Note | None = None,
                      wait_old: float = OLD_GENERATION_WAIT) -> ArtifactReport:
    """Verify the archive and publish it as the live generation; refuse it with one line, live index untouched."""
    note = note or (lambda _m: None)
    try:
        raw = open(file, "rb")
    except FileNotFoundError:
        raise ArtifactError(f"{file} does not exist", fix="archive") from None
    except IsADirectoryError:
        raise ArtifactError(f"{file} is a folder, not an index archive", fix="archive") from None
    except OSError as exc:
        raise ArtifactError(f"{file} cannot be read ({exc.strerror or exc})") from None
    store.ensure_folder()
    lock = WriterLock(store.folder, timeout=lock_timeout,
                      on_wait=lambda pid: note(f"waiting up to {lock_timeout:g}s for a reindex (pid {pid})..."))
    try:
        with raw, lock:
            return _import_locked(store, file, raw, wait_old)
    except OSError as exc:
        raise write_error(store.folder, exc) from None


def _import_locked(store: IndexStore, file: Path, raw: IO[bytes], wait_old: float) -> ArtifactReport:
    gen: Path | None = None
    published = False
    try:
        # gzip.GzipFile, not tarfile's own "r|gz": it checks the stream's CRC and length at the end, so an archive
        # cut off even after its last file is refused.
        unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            tar = tarfile.open(fileobj=unzipped, mode="r|")
        except _BROKEN as exc:
            raise _refuse(file, f"not a gzip'd tar archive ({_why(exc)})") from None
        with tar:
            members = iter(tar)
            meta = _read_meta(file, tar, _next(file, members))
            name = meta["generation"]
            if name == getattr(store.live(), "name", None):
                _read_through(file, tar, members, unzipped)  # nothing to publish, but a broken archive says so
                manifest = store.manifest(store.folder / name)
                pages, sections = manifest.size() if manifest else (0, 0)
                return ArtifactReport(str(file), name, meta["built"], pages, sections, 0, published=False)
            gen = store.folder / name
            _clear_leftover(gen)
            store.create_generation(gen)
            _extract(file, gen, tar, members, meta["files"])
            _drain(file, unzipped)
        manifest = _check_generation(file, store, gen, meta["files"])
        # The head a search reads instead of the whole manifest (kb/manifest.py): not in archives, as it names the
        # manifest file's own mtime. Without it every search of the imported index parsed the whole manifest.
        manifest.save_head(gen / MANIFEST)
        store.publish(gen)
        published = True
        removed, kept = _remove_old(store, gen, wait_old)
    finally:
        if not published:
            store.discard(gen)
    pages, sections = manifest.size()
    return ArtifactReport(str(file), gen.name, meta["built"], pages, sections, Path(file).stat().st_size,
                          removed, kept)


def _read_through(file: Path, tar: tarfile.TarFile, members: Any, unzipped: gzip.GzipFile) -> None:
    """Read the rest of the archive without writing it: truncation or corruption is refused as on a publishing
    import (which checks every file), instead of "nothing to do" for whatever follows a live generation's id."""
    while (member := _next(file, members)) is not None:
        source = tar.extractfile(member) if member.isreg() else None
        try:
            while source is not None and source.read(1 << 20):
                pass
        except _BROKEN as exc:
            raise _refuse(file, f"truncated or corrupted ({_why(exc)})") from None
    _drain(file, unzipped)


def _next(file: Path, members: Any) -> tarfile.TarInfo | None:
    try:
        return next(members, None)
    except _BROKEN as exc:
        raise _refuse(file, f"truncated or corrupted ({_why(exc)})") from None


def _read_meta(file: Path, tar: tarfile.TarFile, member: tarfile.TarInfo | None) -> dict[str, Any]:
    if member is None or member.name != ARTIFACT or not member.isreg() or member.size > MAX_META_BYTES:
        raise _refuse(file, f"it does not start with {ARTIFACT}, so no index export wrote it")
    try:
        meta = json.loads(_read_member(file, tar, member))
    except ValueError:
        raise _refuse(file, f"{ARTIFACT} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _refuse(file, f"{ARTIFACT} is not a kb index artifact description")
    if meta.get("version") != FORMAT_VERSION:
        raise _refuse(file, f"artifact format {meta.get('version')!r}; this kb reads version {FORMAT_VERSION}")
    stamp = meta.get("stamp")
    if not isinstance(stamp, str) or not stamp.startswith(format_stamp() + ";"):
        raise _refuse(file, f"it was built by another kb version ({stamp}); this is {format_stamp()}: "
                            "export it again with this version")
    name, files = meta.get("generation"), meta.get("files")
    if not isinstance(name, str) or not GEN_NAME.fullmatch(name):
        # only a name kb gives its generations: an import clears a leftover folder of that name, which must be
        # one kb made (an archive naming "gen-mynotes" had a user's folder of that name deleted)
        raise _refuse(file, "its generation id is not one kb gives (gen-<time>-<hex>)")
    if not isinstance(files, dict) or MANIFEST not in files:
        raise _refuse(file, f"its file list is missing or has no {MANIFEST}")
    for fname, info in files.items():
        if not _safe_name(fname) or not isinstance(info, dict) or not isinstance(info.get("size"), int) \
                or info["size"] < 0 or not isinstance(info.get("sha256"), str):
            raise _refuse(file, f"its file list names {str(fname)[:80]!r}, which kb never writes")
    meta["built"] = str(meta.get("built", ""))
    return meta


def _safe_name(name: object) -> bool:
    """A flat file name kb could have written: nothing that leaves the folder, hides, or is a lock of ours."""
    return (isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None and ".." not in name
            and name not in (ARTIFACT, PIN_NAME, LOCK_NAME))


def _extract(file: Path, gen: Path, tar: tarfile.TarFile, members: Any, files: dict[str, dict[str, Any]]) -> None:
    seen: set[str] = set()
    while (member := _next(file, members)) is not None:
        name = member.name
        if not member.isreg():
            kind = "link" if member.issym() or member.islnk() else "folder" if member.isdir() else "special file"
            raise _refuse(file, f"it holds a {kind} ({name[:80]!r}); index archives hold plain files only")
        if name not in files or not _safe_name(name):
            raise _refuse(file, f"it holds {name[:80]!r}, which is not in its file list")
        if name in seen:
            raise _refuse(file, f"it holds {name!r} twice")
        expected = files[name]
        if member.size != expected["size"]:
            raise _refuse(file, f"{name} is {member.size} bytes, its file list says {expected['size']}")
        seen.add(name)
        source = tar.extractfile(member)
        if source is None:
            raise _refuse(file, f"{name} cannot be read from it")
        digest = _copy_member(file, member, source, gen / name)
        if digest != expected["sha256"]:
            raise _refuse(file, f"{name} is corrupted (checksum mismatch)")
        os.utime(gen / name, (member.mtime, member.mtime))
    missing = sorted(set(files) - seen)
    if missing:
        raise _refuse(file, f"it is truncated ({missing[0]} is missing)")


def _copy_member(file: Path, member: tarfile.TarInfo, source: IO[bytes], target: Path) -> str:
    """Stream one member into a new file that cannot be a link planted beforehand; its SHA-256."""
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while True:
            try:
                block = source.read(1 << 20)
            except _BROKEN as exc:
                raise _refuse(file, f"truncated or corrupted ({_why(exc)})") from None
            if not block:
                break
            written += len(block)
            digest.update(block)
            out.write(block)
    if written != member.size:
        raise _refuse(file, f"it is truncated ({member.name} ends after {written} of {member.size} bytes)")
    return digest.hexdigest()


def _drain(file: Path, stream: gzip.GzipFile) -> None:
    """Read to the end of the compressed stream, so its checksum and length are checked."""
    try:
        while stream.read(1 << 20):
            pass
    except _BROKEN as exc:
        raise _refuse(file, f"truncated or corrupted ({_why(exc)})") from None


def _check_generation(file: Path, store: IndexStore, gen: Path, listed: dict[str, Any]) -> Manifest:
    """What a search will check before using it, done now: the manifest, every checksum, the document count."""
    manifest = store.manifest(gen)
    if manifest is None:
        raise _refuse(file, f"its {MANIFEST} cannot be read")
    problem = store.verify(gen, manifest, deep=True)
    if problem:
        raise _refuse(file, f"its index does not match its manifest ({problem})")
    extra = sorted(set(listed) - {MANIFEST, *manifest.index})
    if extra:  # a file only the archive's list names: kb would carry it into every later generation
        raise _refuse(file, f"it holds {extra[0][:80]!r}, which its index manifest does not list")
    from .whoosh import open_index

    try:
        ix = open_index(str(gen))
        try:
            count = ix.doc_count()
        finally:
            ix.close()
    except Exception as exc:  # noqa: BLE001 - whatever Whoosh raises on bad files means the archive is bad
        raise _refuse(file, f"its index cannot be opened ({type(exc).__name__})") from None
    if count != manifest.docs:
        raise _refuse(file, "its document count differs from its manifest")
    return manifest


def _clear_leftover(gen: Path) -> None:
    """A folder of this name that is not live is what an interrupted import of the same archive left: ours."""
    if not gen.exists() and not gen.is_symlink():
        return
    if gen.is_symlink() or not gen.is_dir():
        gen.unlink()
        return
    held = claim(gen)
    if held is None:
        raise IndexUnusable(f"{gen.name} is still open by a running search; try the import again")
    try:
        import shutil

        trash = gen.with_name(f".trash-{gen.name}")
        os.rename(gen, trash)
        shutil.rmtree(trash, ignore_errors=True)
    finally:
        held.release()


def _remove_old(store: IndexStore, keep: Path, wait: float) -> tuple[int, int]:
    """Delete the generations this import replaced; servers still reading one get `wait` seconds to move on."""
    before = {c.name for c in store.folder.iterdir() if c.name.startswith("gen-") and c != keep}
    deadline = time.monotonic() + wait
    while True:
        store.remove_old(keep=keep)
        left = {c.name for c in store.folder.iterdir() if c.name.startswith("gen-") and c != keep}
        if not left or time.monotonic() >= deadline:
            return len(before - left), len(left)
        time.sleep(0.1)


# -- helpers -------------------------------------------------------------------------------------------------

def _read_member(file: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    source = tar.extractfile(member)
    if source is None:
        raise _refuse(file, f"{member.name} cannot be read from it")
    try:
        return source.read()
    except _BROKEN as exc:
        raise _refuse(file, f"truncated or corrupted ({_why(exc)})") from None


def _refuse(file: Path, why: str) -> ArtifactError:
    return ArtifactError(f"{file} refused: {why}; the live index is unchanged")


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120] or type(exc).__name__


def _built(gen: Path) -> str:
    from .serving import generation_fields

    return generation_fields(gen)["built"]



