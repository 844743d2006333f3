"""What an LMS bulk download looks like: student ids from file names, and safe unpacking of its zip.

    parse_name(path)            -> LmsName | None   Canvas or Moodle naming, read from a path
    names_at_top(relatives)     -> {path: LmsName}  a download's naming, where the LMS writes it
    keep_latest(found, named)   -> (kept, notes)    one submission per LMS student: the latest
    unpack_archives(paths, dir) -> (paths, notes)   every .zip among the paths extracted, safely

Canvas ("Download Submissions") names each file ``login[_late]_userid_submissionid_filename``,
e.g. ``smithj_late_12345_67890_rnn.ipynb``; a file the student uploaded again under the same name
gets ``-1``, ``-2`` before its extension. The user id is the ``ID`` column of Canvas's gradebook.

Moodle ("Download all submissions") puts each student's files in a folder
``Full Name_12345_assignsubmission_file_/`` (or, without folders, prefixes the file name with it).
12345 is the participant id: the ``Participant 12345`` identifier of Moodle's grading worksheet.
The full name is the student's own (many sites let students edit it) and may hold a mark of its own,
``Alice_11111_assignsubmission_file_x``: a folder's id is the mark Moodle appended, at its end; a file
name of a download without folders holding two marks gives no id (either could be Moodle's).

Everything here comes from students (file names, archive entries) and is treated as hostile: an
archive entry is never written outside its destination, never as a link, and the archive is
refused whole when it is larger, or holds more files, or compresses better than a class can.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import GraderError


class ArchiveError(GraderError):
    """A zip file that cannot be unpacked safely (too big, too many files, a zip bomb, not a zip)."""


@dataclass(frozen=True)
class LmsName:
    lms: str
    """"canvas" or "moodle"."""
    student: str
    """The LMS's own user id (Canvas user id, Moodle participant id): the id results are filed under."""
    name: str
    """Canvas login part, or Moodle full name (for messages only)."""
    submission: int = 0
    """Canvas submission (attachment) id: a later upload has a larger one."""
    resubmission: int = 0
    """Canvas ``-N`` suffix of a file uploaded again under the same name."""
    late: bool = False
    """Canvas marked the submission late."""
    filename: str = ""
    """The file name the student uploaded."""


_CANVAS = re.compile(r"^(?P<login>[A-Za-z0-9]+?)(?P<late>_late)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$",
                     re.IGNORECASE)
_RESUBMISSION = re.compile(r"^.+-(?P<n>\d+)(?:\.[^.]*)?$")
#: What Moodle appends to a full name: ``_<participant id>_assignsubmission_<plugin>_``. Counted with a
#: lookahead, so that two marks sharing an underscore count as two.
_MOODLE_MARK = re.compile(r"(?=_\d+_assignsubmission_[a-z]+_)")
#: A Moodle submission folder: the full name, then the mark at the very end (Moodle writes nothing after
#: it). ``.+`` is greedy: a mark inside the full name, which the student chose, is never the one read.
_MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<user>\d+)_assignsubmission_[a-z]+_$")
#: A file of a Moodle download without folders: full name, mark, the uploaded file's name. Both sides of
#: the mark are the student's, so a name holding more than one mark is not read (``_moodle_file``).
_MOODLE_FILE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_[a-z]+_(?P<file>.+)$")
#: Moodle keeps a student's own subfolders under the student's folder: look this far up for it.
_MOODLE_DEPTH = 4


def parse_name(path: Path | PurePosixPath) -> LmsName | None:
    """The LMS naming of ``path`` (its file name, or for Moodle a folder above it), or None.

    A folder the LMS made encloses whatever the student named, so the outermost Moodle folder wins
    over anything inside it: a file a student names ``Alice_12345_assignsubmission_file_x.ipynb`` in
    their own submission folder is still theirs. Canvas downloads are flat: only a file's own name,
    outside any Moodle folder, is read as Canvas's."""
    for parent in reversed(list(path.parents)[:_MOODLE_DEPTH - 1]):
        moodle = _MOODLE_FOLDER.match(parent.name)
        if moodle:
            return LmsName("moodle", moodle["user"], moodle["name"], filename=path.name)
    canvas = _CANVAS.match(path.name)
    if canvas:
        filename = canvas["file"]
        again = _RESUBMISSION.match(filename)
        return LmsName("canvas", canvas["user"], canvas["login"], int(canvas["submission"]),
                       int(again["n"]) if again else 0, bool(canvas["late"]), filename)
    return _moodle_file(path.name)


def _moodle_file(name: str) -> LmsName | None:
    """The Moodle naming of a file of a download without folders, or None. With two marks in the name
    (``Mallory_22222_assignsubmission_file_x_11111_assignsubmission_file_rnn.ipynb``: a full name or an
    uploaded file name holding one) either could be Moodle's, so neither is taken."""
    moodle = _MOODLE_FILE.match(name)
    if moodle is None or several_moodle_marks(name):
        return None
    return LmsName("moodle", moodle["user"], moodle["name"], filename=moodle["file"])


def several_moodle_marks(name: str) -> list[str]:
    """The participant ids of the Moodle marks in ``name`` when there are more than one, else []."""
    ids = [re.match(r"_(\d+)", name[match.start():])[1] for match in _MOODLE_MARK.finditer(name)]
    return ids if len(ids) > 1 else []


def names_at_top(relatives: list[PurePosixPath | Path]) -> dict[PurePosixPath | Path, LmsName]:
    """The LMS naming of the notebooks of one download, given by their paths inside it, read only where
    an LMS writes names: a Moodle submission folder at the top (whatever lies inside it), or the name
    of a file at the top when most files there are so named (a real Canvas or Moodle download names
    them all). A name further down, or among files named otherwise, is one a student chose: a file a
    student names ``x_12345_1_rnn.ipynb`` in their own folder, or in a class folder of plain names,
    is not student 12345's."""
    found: dict[PurePosixPath | Path, LmsName] = {}
    top = [relative for relative in relatives if len(relative.parts) == 1]
    named_at_top = {relative: parsed for relative in top if (parsed := parse_name(relative)) is not None}
    if 2 * len(named_at_top) > len(top):
        found.update(named_at_top)
    for relative in relatives:
        moodle = _MOODLE_FOLDER.match(relative.parts[0]) if len(relative.parts) > 1 else None
        if moodle:
            found[relative] = LmsName("moodle", moodle["user"], moodle["name"], filename=relative.name)
    return found


def _uploaded_name(parsed: LmsName) -> str:
    """The name the student gave the file: Canvas's ``-N`` of a resubmission taken off."""
    if parsed.resubmission:
        stem, dot, suffix = parsed.filename.rpartition(".")
        base = stem if dot else parsed.filename
        base = base[: -len(f"-{parsed.resubmission}")] if base.endswith(f"-{parsed.resubmission}") else base
        return f"{base}.{suffix}" if dot else base
    return parsed.filename


def companion(notebook: Path, name: str) -> Path | None:
    """The file ``name`` (a helper module such as rnn_utils.py) that the student who handed in
    ``notebook`` uploaded with it, in a flat LMS download where every file carries its uploader's id
    (``smithj_1001_67890_rnn_utils.py``): their latest one, or None (not an LMS download, or none)."""
    mine = parse_name(notebook)
    if mine is None:
        return None
    found = []
    try:
        candidates = list(notebook.parent.iterdir())
    except OSError:
        return None
    # By discovery's rule: the name is the LMS's only where most notebooks beside it are so named. In
    # a folder of plain names a student chose it, and a classmate could name a module to match it.
    notebooks = [Path(path.name) for path in candidates if path.suffix == ".ipynb"]
    if Path(notebook.name) not in names_at_top(notebooks):
        return None
    for path in candidates:
        other = parse_name(path) if path != notebook else None
        if other is None or other.lms != mine.lms or other.student != mine.student or _uploaded_name(other) != name:
            continue
        if path.is_file() and not path.is_symlink():
            found.append((_recency(path, other), path))
    return max(found)[1] if found else None


def _recency(path: Path, parsed: LmsName) -> tuple[int, int, float, str]:
    try:
        mtime = path.lstat().st_mtime
    except OSError:
        mtime = 0.0
    return parsed.submission, parsed.resubmission, mtime, str(path)


def keep_latest(found: list[tuple[str, Path]], named: dict[Path, LmsName]) -> tuple[list[tuple[str, Path]], list[str]]:
    """One notebook per LMS student: the latest by submission id, then resubmission number, then
    modification time. ``named``: the entries an LMS named (``names_at_top``); the others, or those
    filed under another id, pass unchanged. Returns what is kept (in the original order) and a note
    for each notebook left out.

    An LMS gives one id one name (Canvas login, Moodle full name). Submissions filed under one id with
    different names (two downloads merged, or a full name made to look like a classmate's folder) are
    not one student's: none replaces another, the latest of each name is kept, and the note names them
    all; ``students.assign_ids`` then files each under an id marked ambiguous, for the TA to settle.
    A file name holding several Moodle marks, which gives no id (``parse_name``), is noted too."""
    groups: dict[str, list[tuple[tuple, Path]]] = {}
    for student, path in found:
        parsed = named.get(path)
        if parsed is not None and parsed.student == student:
            groups.setdefault(student, []).append((_recency(path, parsed), path))
    dropped: dict[Path, Path] = {}
    claims: list[str] = []
    for student, candidates in groups.items():
        by_name: dict[str, list[tuple[tuple, Path]]] = {}
        for candidate in candidates:
            by_name.setdefault(named[candidate[1]].name, []).append(candidate)
        kept = []
        for same in by_name.values():
            latest = max(same, key=lambda item: item[0])[1]
            dropped.update({path: latest for _, path in same if path != latest})
            kept.append(latest)
        if len(by_name) > 1:
            parsed = named[kept[0]]
            who = f"{'Moodle participant' if parsed.lms == 'moodle' else 'Canvas user'} {student}"
            names = "; ".join(f"{named[path].name!r} ({path})" for path in sorted(kept, key=str))
            claims.append(f"{who} is claimed under {len(kept)} names, which an LMS never gives one id: {names}; "
                          "none is taken for another's submission: each is graded under an id marked ambiguous. "
                          "Check the LMS for who is who")
    notes = [f"{path}: an earlier submission of student {named[path].student}, left out; graded: {latest}"
             for path, latest in dropped.items()]
    for student, path in found:
        marks = several_moodle_marks(path.name) if path not in named else []
        if marks:
            notes.append(f"{path}: its name holds {len(marks)} Moodle participant ids ({', '.join(marks)}) and either "
                         f"could be the one Moodle wrote: graded as {student!r}, no participant's. Check the LMS for "
                         "who handed it in")
    return [(student, path) for student, path in found if path not in dropped], claims + notes


# --- unpacking ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """What one class download may hold; anything beyond is refused, not truncated."""

    max_files: int = 20_000
    max_file_bytes: int = 256 * 2**20
    max_total_bytes: int = 4 * 2**30
    max_ratio: float = 200.0
    """Uncompressed / compressed size above which a large entry is taken for a zip bomb
    (notebooks compress about 3 to 10 times; numbers in outputs a little better)."""
    ratio_floor: int = 2**20
    """Entries smaller than this are never judged by their ratio (tiny files compress oddly)."""


DEFAULT_LIMITS = Limits()
_MARKER = ".grader-unpacked"
_JUNK = ("__MACOSX", ".DS_Store")


def _safe_member(name: str) -> PurePosixPath | None:
    """The relative path an entry may be written to, or None for a name that would leave the
    destination (absolute, drive letter, ``..``, NUL) or is empty."""
    normal = name.replace("\\", "/")
    if "\x00" in normal or normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return None
    parts = [part for part in normal.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _is_link(info: zipfile.ZipInfo) -> bool:
    """A symbolic link or any other special file (Unix mode in the high bits; no type bits: a file)."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)


def check_archive(infos: list[zipfile.ZipInfo], limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse an archive by what its directory declares (before writing anything)."""
    files = [info for info in infos if not info.is_dir()]
    if len(files) > limits.max_files:
        raise ArchiveError(f"{len(files)} files, more than the {limits.max_files} a class download may hold")
    total = sum(info.file_size for info in files)
    if total > limits.max_total_bytes:
        raise ArchiveError(f"{total / 2**20:.0f} MiB uncompressed, more than {limits.max_total_bytes / 2**20:.0f} MiB")
    for info in files:
        if info.file_size > limits.max_file_bytes:
            raise ArchiveError(f"{info.filename!r} is {info.file_size / 2**20:.0f} MiB uncompressed, more than "
                               f"{limits.max_file_bytes / 2**20:.0f} MiB")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ArchiveError(f"{info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f} times: "
                               "a zip bomb, not a class download")


def extract_zip(archive: Path, destination: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Unpack ``archive`` into ``destination`` (created; must not exist) and return a note for each
    entry left out. Raises ArchiveError, writing nothing, when the archive as a whole is refused."""
    try:
        handle = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as error:
        raise ArchiveError(f"{archive}: not a readable zip file ({error})") from None
    notes: list[str] = []
    with handle:
        infos = handle.infolist()
        try:
            check_archive(infos, limits)
        except ArchiveError as error:
            raise ArchiveError(f"{archive}: refused, {error.message}; unpack it yourself if it is genuine") from None
        destination.mkdir(parents=True)
        written = 0
        for info in infos:
            relative = _safe_member(info.filename)
            if relative is None:
                notes.append(f"{archive}: entry {info.filename!r} left out (its name points outside the archive)")
                continue
            if relative.parts[0] in _JUNK or relative.name in _JUNK:
                continue
            if _is_link(info):
                notes.append(f"{archive}: entry {info.filename!r} left out (a link, not a file)")
                continue
            target = destination.joinpath(*relative.parts)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written += _copy_capped(handle, info, target, limits, limits.max_total_bytes - written)
                stamp = time.mktime(info.date_time + (0, 0, -1))
                target.chmod(0o644)
                os.utime(target, (stamp, stamp), follow_symlinks=False)
            except (OSError, ValueError, OverflowError, zipfile.BadZipFile) as error:  # a file and a folder of one name
                notes.append(f"{archive}: entry {info.filename!r} left out ({error})")
            except (NotImplementedError, RuntimeError) as error:  # an unsupported compression, an encrypted entry
                notes.append(f"{archive}: entry {info.filename!r} left out ({error}); unpack the archive yourself")
    return notes


def _copy_capped(handle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: Limits, budget: int) -> int:
    """Copy one entry, counting the bytes really produced: a directory that lies about sizes is
    caught here. A duplicate name is refused (``x`` mode) rather than overwriting the first."""
    cap = min(limits.max_file_bytes, budget)
    count = 0
    with handle.open(info) as source, open(target, "xb") as sink:
        while chunk := source.read(1 << 20):
            count += len(chunk)
            if count > cap:
                sink.close()
                target.unlink()
                raise ArchiveError(f"{info.filename!r} expands past the size limit: a zip bomb, not a class download")
            sink.write(chunk)
    return count


def unpack_archives(paths: list[str], into: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[list[str], list[str]]:
    """``paths`` with every zip file replaced by the folder it is unpacked into (``into/<name>``),
    and the notes of unpacking. A folder unpacked before is replaced (only one this made)."""
    result, notes, used = [], [], set()
    for item in paths:
        path = Path(item)
        if not (path.suffix.lower() == ".zip" and path.is_file() and not path.is_symlink()):
            result.append(item)
            continue
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._") or "archive"
        number = 1
        while (into / name).resolve() in used:  # two zips of one name in this run: both kept
            number += 1
            name = f"{name.rsplit('~', 1)[0]}~{number}"
        destination = into / name
        used.add(destination.resolve())
        if destination.exists():
            if not (destination / _MARKER).is_file():
                raise ArchiveError(f"{destination} exists and was not unpacked by grade: move it away or choose "
                                   "another --out")
            shutil.rmtree(destination)
        try:
            notes.extend(extract_zip(path, destination, limits))
        except ArchiveError:
            shutil.rmtree(destination, ignore_errors=True)
            raise
        (destination / _MARKER).write_text(f"unpacked from {path.resolve()}\n")
        result.append(str(destination))
    return result, notes
