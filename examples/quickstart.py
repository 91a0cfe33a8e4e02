"""Run the example project for real: a ``celery worker`` and ``celery beat -S beatcore.Scheduler``.

No server is needed: the broker is kombu's filesystem transport and the schedule lives in
beatcore's embedded SQLite store, both under ``examples/var/``. The worker's and beat's own log
lines are shown as they come; Ctrl-C stops both cleanly.

    python examples/quickstart.py              # until Ctrl-C
    python examples/quickstart.py --seconds 20 # stop by itself after 20 s
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "celery", "-A", "proj", *args]
    print(f"[quickstart] starting {name}: celery -A proj {' '.join(args)}", flush=True)
    return subprocess.Popen(
        cmd,
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """SIGTERM both (celery's warm shutdown); SIGKILL what is still running after 20 s."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            codes[name] = proc.wait(5)
    return codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--fresh", action="store_true", help="delete examples/var first")
    options = parser.parse_args(argv)

    var = Path(os.environ.get("PROJ_VAR_DIR", HERE / "var"))
    if options.fresh and var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PROJ_VAR_DIR=str(var))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))

    procs = {
        "worker": _start("worker", ["worker", "--pool=solo", "--loglevel=INFO"], env),
        "beat": _start(
            "beat",
            [
                "beat",
                "-S",
                "beatcore.Scheduler",
                "--loglevel=INFO",
                "--schedule",
                str(var / "celerybeat-schedule"),
            ],
            env,
        ),
    }
    selector = selectors.DefaultSelector()
    for name, proc in procs.items():
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        selector.register(proc.stdout, selectors.EVENT_READ, name)
    deadline = None if options.seconds is None else time.monotonic() + options.seconds
    buffers = {name: b"" for name in procs}
    try:
        while all(proc.poll() is None for proc in procs.values()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            for key, _ in selector.select(timeout=0.5):
                name = key.data
                chunk = key.fileobj.read()  # type: ignore[union-attr]
                if not chunk:
                    continue
                buffers[name] += chunk
                *lines, buffers[name] = buffers[name].split(b"\n")
                for line in lines:
                    print(f"{name:>6} | {line.decode(errors='replace')}", flush=True)
    except KeyboardInterrupt:
        print("\n[quickstart] Ctrl-C: stopping beat and worker", flush=True)
    failed = [name for name, proc in procs.items() if proc.poll() not in (None, 0)]
    codes = _stop(procs)
    for name, proc in procs.items():
        assert proc.stdout is not None
        rest = buffers[name] + (proc.stdout.read() or b"")
        for line in rest.decode(errors="replace").splitlines():
            print(f"{name:>6} | {line}", flush=True)
    for name, code in codes.items():
        print(f"[quickstart] {name} exited with {code}", flush=True)
    if failed:
        print(f"[quickstart] {', '.join(failed)} stopped unexpectedly", flush=True)
        return 1
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
