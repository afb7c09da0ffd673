"""What processes and sockets exist, read from Linux's /proc (for the no-orphan checks)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

needs_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads process and socket tables from /proc"
)


def children(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def command_name(pid: int) -> str | None:
    """The process's name, or None when there is no such process (or only a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return Path(f"/proc/{pid}/comm").read_text().strip()


def alive(pid: int) -> bool:
    return command_name(pid) is not None


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def bound_ports(pid: int) -> dict[str, set[int]]:
    """``{"tcp-listen": {...}, "udp": {...}}``: the ports the process listens on / binds."""
    inodes = _socket_inodes(pid)
    ports: dict[str, set[int]] = {"tcp-listen": set(), "udp": set()}
    for table, kind in (
        ("tcp", "tcp-listen"),
        ("tcp6", "tcp-listen"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if inode in inodes and (kind == "udp" or state == "0A"):
                ports[kind].add(int(local.rsplit(":", 1)[1], 16))
    return ports


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (a connection is refused)."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) != 0


def caddy_children() -> list[int]:
    """The process ids of the Caddy processes this test process started."""
    return [p for p in children(os.getpid()) if command_name(p) == "caddy"]
