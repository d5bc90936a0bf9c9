"""Benchmark: a ``pmsync`` command from start to exit, and how much of it is loading code.

A PM or an admin runs ``pmsync status``, ``pmsync config validate`` or a one-off
``pmsync sync`` by hand; each is a new process that imports pmsync before doing
anything. Every command below runs as a user runs it (``python -m pmsync ...``,
a new process) against a small sandbox world, ``REPEAT`` times; the table gives
the median and best wall time, and the seconds spent importing, from one more
run under ``python -X importtime`` (which slows imports a little), against
that run's own wall time.

Python's bytecode caches are written as usual for these runs (a pip install
compiles them; this benchmark's first run of each command does), even where the
machine sets ``PYTHONDONTWRITEBYTECODE`` (``bench.common.child_env``): compiling
pmsync's own modules at every start is not what users pay.

    .venv/bin/python -m bench start [--quick]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import FULL, ROOT, VAR, SandboxProcess, child_env, console, quick, show

REPEAT = 5


def _env(database: Path) -> dict[str, str]:
    env = child_env()  # bytecode caches written, as in an install
    env["PMSYNC_DATABASE_URL"] = f"sqlite:///{database}"
    return env


def _run(
    args: Sequence[str], env: dict[str, str], *, importtime: bool = False
) -> tuple[float, str]:
    """Run ``python -m pmsync *args``; return its wall seconds and its stderr."""
    flags = ["-X", "importtime"] if importtime else []
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-m", "pmsync", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: a sync or check that found something to say
        command = " ".join(args)
        raise RuntimeError(f"pmsync {command} exited {done.returncode}: {done.stderr[-2000:]}")
    return took, done.stderr


def import_seconds(stderr: str) -> float:
    """Sum the top-level modules' cumulative times of a ``-X importtime`` report."""
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        top = name.startswith(" ") and not name.startswith("  ")  # depth 0: one space
        if top and cumulative.strip().isdigit():
            total += int(cumulative)
    return total / 1e6


def main(argv: Sequence[str]) -> None:
    """Time each command against a small synced sandbox world; print the table."""
    size = FULL.scaled(0.002 if quick(argv) else 0.01)
    root = VAR / "start"
    shutil.rmtree(root, ignore_errors=True)
    console.rule(f"start: pmsync commands, start to exit ({size.label})")
    database = root / "pmsync.db"
    rows: list[list[str]] = []
    with SandboxProcess(size, root / "sandbox") as box:
        config = ["--config", str(box.config_dir)]
        env = _env(database)
        fresh_sync = [*config, "sync", "--full"]

        def fresh() -> None:
            for stale in root.glob("pmsync.db*"):
                stale.unlink()

        commands: list[tuple[str, list[str], bool]] = [
            ("pmsync --help", ["--help"], False),
            ("pmsync config validate", [*config, "config", "validate"], False),
            ("pmsync status", [*config, "status"], False),
            ("pmsync sync, nothing changed (every source)", [*config, "sync"], False),
            ("pmsync sync --full into a new store (every source)", fresh_sync, True),
        ]
        fresh()
        _run(fresh_sync, env)  # bytecode caches written, the store made for the rest
        for label, args, new_store in commands:
            seconds = []
            for _ in range(REPEAT):
                if new_store:
                    fresh()
                seconds.append(_run(args, env)[0])
            if new_store:
                fresh()
            traced, report = _run(args, env, importtime=True)
            loading = import_seconds(report)
            rows.append(
                [
                    label,
                    f"{statistics.median(seconds):.2f}",
                    f"{min(seconds):.2f}",
                    f"{loading:.2f} of {traced:.2f} ({loading / traced:.0%})",
                ]
            )
    show(
        "Starting a command: wall seconds from start to exit",
        ["command", "median s", "best s", "importing s (traced run)"],
        rows,
        note=f"{REPEAT} runs each, SQLite. Importing: one more run under -X importtime, "
        "which slows imports a little, its seconds spent importing of its whole run.",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
