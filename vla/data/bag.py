"""Reading a rosbag2 recording (sqlite3 or mcap) with `rosbags`, including one whose recorder never closed it.

A recorder killed mid-write (power cut, SIGKILL, a full disk) leaves the folder without its
metadata.yaml (rosbag2 writes it on close), and an mcap file without its summary and footer, or cut
in the middle of a record. rosbags refuses both. What can be read is read here, and said
(`Bag.notes`): without metadata.yaml each storage file is opened on its own; an mcap file without
its footer is scanned from the start and every complete chunk is kept (the one cut in half is lost).
A sqlite3 file cut short cannot be read that way (sqlite finds the damage before the first row, and
sqlite3's own `.recover` failed on such files here): it is refused with its name and the advice to
record to mcap.

    with open_bag("rosbag2_2026_11_30") as bag:
        bag.topics                                   # {"/joint_states": "sensor_msgs/msg/JointState", ...}
        for topic, recv_ns, msg in bag.messages(["/joint_states"]):   # deserialised, ROS field names
            ...
"""

import contextlib
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError
from rosbags.rosbag2.storage_mcap import McapReader, read_sized
from rosbags.typesys import Stores, get_typestore

STORAGE_SUFFIXES = (".mcap", ".db3")
_MCAP_MAGIC = b"\x89MCAP0\r\n"
# what reading a record cut in half raises in rosbags' mcap scanner (a short read fed to struct or ord)
_CUT_RECORD = (ReaderError, struct.error, TypeError, ValueError)


class BagError(ValueError):
    """A bag that cannot be read or converted; the message names the file or topic and the fix."""


class _CutMcapReader(McapReader):
    """An mcap file without summary or footer: every record up to the cut, found by scanning."""

    def _open(self) -> None:
        bio = self.bio
        if bio.read(8) != _MCAP_MAGIC or bio.read(1) != b"\x01":
            raise ReaderError(f"{self.path} is not an mcap file (no MCAP header)")
        read_sized(bio)  # the header record: profile and library
        self.data_start = bio.tell()
        self.data_end = bio.seek(0, 2)
        with contextlib.suppress(*_CUT_RECORD):  # schemas and channels before the cut are kept
            self.meta_scan()

    def messages(self, connections, start=None, stop=None) -> Iterator:
        with contextlib.suppress(*_CUT_RECORD):  # the record cut in half ends the file
            yield from self.messages_scan(connections, start, stop)


def _open_file(path: Path, notes: list[str]) -> Reader | McapReader:
    """One storage file, read directly (no metadata.yaml needed)."""
    try:
        reader = Reader(path)
        reader.open()
        return reader
    except ReaderError as exc:
        if path.suffix == ".db3":
            raise BagError(
                f"cannot read {path}: {exc}. A sqlite3 file cut mid-write (recorder killed, disk full) is "
                "unreadable from its first query on (sqlite3's own .recover failed on such files too); "
                "nothing was converted. Record to mcap (`ros2 bag record -s mcap`, rosbag2's default "
                "since Iron): an mcap file cut short is read up to the cut"
            ) from None
        cause = str(exc)
    reader = _CutMcapReader(path)
    try:
        reader.open()
    except ReaderError as exc:
        raise BagError(f"cannot read {path}: {exc}") from None
    if not reader.connections:
        raise BagError(
            f"cannot read {path} ({cause}): nothing before the cut is readable (its first chunk, which "
            "holds the topics' definitions, is incomplete)"
        )
    notes.append(
        f"{path.name} was not closed ({cause.rstrip('.')}): read up to where it was cut (the episodes "
        "below end there); the chunk being written then is lost"
    )
    return reader


class Bag:
    """A rosbag2 folder or storage file, open for reading; see the module doc."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.notes: list[str] = []  # what was read differently from a closed bag, for the report
        self.types = get_typestore(Stores.LATEST)  # the std/sensor messages read here are the same since Foxy
        self._readers = self._open()
        self.topics = {c.topic: c.msgtype for r in self._readers for c in r.connections}

    def _open(self) -> list:
        path = self.path
        if not path.exists():
            raise BagError(
                f"no bag at {path}: pass a rosbag2 folder (holds metadata.yaml) or a .mcap/.db3 file"
            )
        if path.is_file():
            return [_open_file(path, self.notes)]
        files = sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
        if (path / "metadata.yaml").exists():
            try:
                reader = Reader(path)
                reader.open()
                return [reader]
            except ReaderError as exc:
                self.notes.append(f"{path}/metadata.yaml could not be used ({exc}); reading the files")
        elif files:
            self.notes.append(
                f"{path} has no metadata.yaml (the recorder did not close the bag); reading "
                f"{', '.join(p.name for p in files)} directly (`ros2 bag reindex` would rebuild it)"
            )
        if not files:
            raise BagError(
                f"{path} holds no rosbag2 storage file (*.mcap, *.db3) and no usable metadata.yaml"
            )
        return [_open_file(p, self.notes) for p in files]

    def raw(self, topics: Iterable[str], start_ns: int | None = None, stop_ns: int | None = None) -> Iterator:
        """(topic, receive time ns, serialised bytes, msgtype) of `topics`, file by file, each in its
        storage order (by receive time, except in a scanned cut mcap file)."""
        wanted = set(topics)
        for reader in self._readers:
            connections = [c for c in reader.connections if c.topic in wanted]
            if connections:
                for conn, recv_ns, raw in reader.messages(connections, start_ns, stop_ns):
                    yield conn.topic, recv_ns, raw, conn.msgtype

    def messages(self, topics: Iterable[str], start_ns: int | None = None, stop_ns: int | None = None):
        """(topic, receive time ns, message) with ROS field names; a message that does not decode is
        named with its topic and time."""
        for topic, recv_ns, raw, msgtype in self.raw(topics, start_ns, stop_ns):
            try:
                msg = self.types.deserialize_cdr(raw, msgtype)
            except Exception as exc:  # rosbags raises struct/index/assertion errors on bad bytes
                raise BagError(
                    f"{self.path}: a {msgtype} message on {topic} received at {recv_ns} ns does not decode "
                    f"({type(exc).__name__}: {exc}); the bag is damaged there"
                ) from None
            yield topic, recv_ns, msg

    def close(self) -> None:
        for reader in self._readers:
            with contextlib.suppress(Exception):
                reader.close()

    def __enter__(self) -> "Bag":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bag(path: str | Path) -> Bag:
    return Bag(path)
