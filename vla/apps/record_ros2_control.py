"""Episode control for `vla record source=ros2`: a std_msgs/String topic and, when stdin is a terminal,
single keys (no Enter needed; the terminal is put back as it was on exit).

    topic (ros2.control_topic, default /vla/record/control): "start" | "stop" | "discard" | "quit"
    keys:  Enter or space = start an episode / stop and save it,  d = discard it,  q = quit
"""

import contextlib
import logging
import os
import select
import sys
from collections.abc import Iterator

from vla.bridge import dds

log = logging.getLogger(__name__)

COMMANDS = ("start", "stop", "discard", "quit")
KEYS = {"\n": "toggle", "\r": "toggle", " ": "toggle", "d": "discard", "q": "quit"}
KEY_HELP = "keys: Enter/space = start / stop and save, d = discard, q = quit (Ctrl-C too)"


class Controls:
    """Commands from the control topic and the keyboard, in arrival order ("toggle" = start or stop)."""

    def __init__(self, node: dds.Node, topic: str, qos: dds.QosSpec, keyboard: bool) -> None:
        self.topic = topic
        self._reader = node.reader(topic, dds.String, qos)
        self.keyboard = keyboard

    def poll(self) -> list[str]:
        commands = []
        for msg in self._reader.take():
            command = msg.data.strip().lower()
            if command in COMMANDS:
                commands.append(command)
            else:
                log.warning("%s: unknown command %r ignored; send one of %s", self.topic, msg.data, COMMANDS)
        return commands + (self._keys() if self.keyboard else [])

    def _keys(self) -> list[str]:
        keys = []
        while select.select([sys.stdin], [], [], 0)[0]:
            char = os.read(sys.stdin.fileno(), 1).decode(errors="replace").lower()
            if not char:
                break  # stdin closed
            if char in KEYS:
                keys.append(KEYS[char])
        return keys


def keyboard_wanted(setting: str | bool) -> bool:
    """ros2.keyboard: auto (when stdin is a terminal this process has in the foreground), true, false."""
    if setting == "auto":  # a background job touching the terminal would be stopped (SIGTTIN/SIGTTOU)
        return sys.stdin.isatty() and _in_foreground()
    if setting is True and not sys.stdin.isatty():
        raise SystemExit("vla record: ros2.keyboard=true but stdin is not a terminal; use ros2.keyboard=auto")
    return bool(setting)


def _in_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:  # a terminal that is not this process's controlling one
        return False


@contextlib.contextmanager
def single_keys(enabled: bool) -> Iterator[None]:
    """The terminal in cbreak mode (keys without Enter, no echo; Ctrl-C still interrupts) for the block."""
    if not enabled:
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
