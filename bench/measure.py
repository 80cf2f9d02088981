"""Run one client process and measure it.

- wall: time.monotonic() from just before the spawn to the return of os.wait4 (exec time included,
  the same for every tool).
- CPU: ru_utime + ru_stime from os.wait4's rusage: the child plus any children it waited for.
- RssAnon peak: a sampler thread reads /proc/PID/status every `poll` seconds (10 ms by default) and
  keeps the maximum of RssAnon summed over the process and its descendants
  (/proc/PID/task/TID/children). Anonymous memory only: file pages mapped by the client (page cache)
  are not a cost of the client.
- VmHWM: the kernel's high-water mark of RSS (anonymous + file + shmem), sampled with RssAnon; a
  fresh mm starts at 0 on exec, so the sample is the client's own. ru_maxrss from wait4 is the same
  counter read at exit (so it misses no peak between samples), but the kernel folds into it the
  high-water mark of the mm the child had before exec: the forked copy of this Python harness. So
  ru_maxrss is used only when it exceeds the harness's own VmHWM over the run (reset to its current
  RSS through /proc/self/clear_refs before the spawn), which bounds anything the child inherited:
  VmHWM = max(sampled, ru_maxrss if ru_maxrss > harness VmHWM).
- timeout: the whole process group (the child runs in its own session) is killed with SIGKILL.
- kill_check: optional predicate polled by the sampler; when it returns true the process group is
  killed with SIGKILL (the resume scenario's "kill -9 at 50%").
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from server import die_with_parent

# process groups of running children, killed by the harness on the way out (Ctrl-C, errors)
RUNNING: set[int] = set()


@dataclass
class ProcResult:
    argv: list[str]
    rc: int | None  # exit code; negative: killed by that signal
    wall: float
    user: float
    sys: float
    rss_anon_peak: int  # bytes
    vmhwm: int  # bytes
    samples: int
    vmhwm_sampled: int = 0
    ru_maxrss: int = 0  # bytes
    spawn_floor: int = 0  # the harness's VmHWM over the run: ru_maxrss at or below it says nothing
    timed_out: bool = False
    killed_at: dict[str, float] | None = None  # {"t": seconds after start, "bytes": on disk}
    log: str = ""
    tail: str = field(default="", repr=False)

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def _status(pid: int) -> tuple[int, int]:
    """(RssAnon, VmHWM) in bytes; (0, 0) once the process is gone or a zombie."""
    rss_anon = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"RssAnon:"):
                    rss_anon = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss_anon, hwm


def _tree(pid: int) -> list[int]:
    pids = [pid]
    i = 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children", "rb") as f:
                    pids.extend(int(x) for x in f.read().split())
            except (OSError, ValueError):
                continue
    return pids


def allocated_bytes(*roots: Path) -> int:
    """Bytes really allocated on disk (st_blocks * 512) under `roots`.

    With --file-allocation=none nothing is preallocated, so this is the data the client has written
    so far (ext4 counts delayed-allocation blocks in st_blocks as soon as the write returns).
    """
    total = 0
    stack = [r for r in roots if r.exists()]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


def _reset_own_hwm() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := current RSS
    except OSError:
        pass


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_all() -> None:
    """Kill every running client's process group and reap the client."""
    for pgid in list(RUNNING):
        _killpg(pgid)
        RUNNING.discard(pgid)
        try:
            os.waitpid(pgid, 0)  # SIGKILL cannot be caught: this returns at once
        except ChildProcessError:
            pass


def run(
    argv: list[str],
    *,
    timeout: float,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    poll: float = 0.01,
    kill_check: Callable[[], int | None] | None = None,
) -> ProcResult:
    """Run argv to its end (or timeout / kill_check) and measure it.

    kill_check returns None to go on, or the progress figure (bytes) to record when it decides to
    kill.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    timed_out = threading.Event()
    peak = {"rss_anon": 0, "hwm": 0, "samples": 0}
    killed: dict[str, float] = {}
    _reset_own_hwm()
    with open(log, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    pid = proc.pid
    RUNNING.add(pid)

    def sampler() -> None:
        while not stop.is_set():
            rss = 0
            for p in _tree(pid):
                rss += _status(p)[0]
            hwm = _status(pid)[1]
            peak["rss_anon"] = max(peak["rss_anon"], rss)
            peak["hwm"] = max(peak["hwm"], hwm)
            peak["samples"] += 1
            if kill_check is not None and not killed:
                progress = kill_check()
                if progress is not None:
                    _killpg(pid)
                    killed.update(t=time.monotonic() - t0, bytes=float(progress))
            stop.wait(poll)

    def on_timeout() -> None:
        timed_out.set()
        _killpg(pid)

    thread = threading.Thread(target=sampler, daemon=True)
    timer = threading.Timer(timeout, on_timeout)
    thread.start()
    timer.start()
    try:
        _, status, usage = os.wait4(pid, 0)
        t1 = time.monotonic()
    finally:
        stop.set()
        timer.cancel()
        _killpg(pid)  # anything the client left running in its group
        RUNNING.discard(pid)
    thread.join()
    floor = _status(os.getpid())[1]
    ru_maxrss = usage.ru_maxrss * 1024
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc  # reaped here, not by Popen
    tail = log.read_bytes()[-1500:].decode(errors="replace")
    return ProcResult(
        argv=argv,
        rc=rc,
        wall=t1 - t0,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        rss_anon_peak=peak["rss_anon"],
        vmhwm=max(peak["hwm"], ru_maxrss if ru_maxrss > floor else 0),
        samples=peak["samples"],
        vmhwm_sampled=peak["hwm"],
        ru_maxrss=ru_maxrss,
        spawn_floor=floor,
        timed_out=timed_out.is_set(),
        killed_at=dict(killed) or None,
        log=str(log),
        tail=tail,
    )
