"""Whether the process that claimed a run still runs (Linux ``/proc``; a best guess elsewhere).

The store records a claiming process's pid and start time; a pid reused by another process has
another start time, so a run is not held forever by a pid that came back to life."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_alive", "process_start"]


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) >= 20 else None


def process_alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` of this host still runs and is the one that started at
    ``start`` (when known). Zombies count as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return True  # cannot tell (e.g. no signals on this platform): assume alive
    if not os.path.isdir("/proc/self"):
        return True  # no /proc (not Linux): the pid exists, that is all we can tell
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False  # exited since os.kill
    except OSError:
        return True
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] in ("Z", "X"):
        return False
    return start is None or len(fields) < 20 or fields[19] == start
