"""Run ``pmsync`` commands in processes forked from one that has already imported pmsync.

A test that kills many ``pmsync sync`` processes would otherwise spend most of
its time starting Python and importing pmsync and its connectors again for
each one. This script imports them once, then for each request on stdin forks
a child that runs the command exactly as ``python -m pmsync`` would (its own
process, its own database connections), and reports on stdout:

* stdin, one JSON object a line: ``{"args": [...], "stderr": "/path/to/file"}``
* stdout: ``pid N`` once the child runs, then ``exit CODE`` when it has ended
  (``-9`` for a child killed by SIGKILL, as ``subprocess`` reports it).

One command at a time; end of input ends the script. ``ForkedCli`` in
``tests/test_sync_e2e.py`` drives it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback


def run_child(args: list[str], stderr: str) -> int:
    """Run ``pmsync *args`` in this (forked) process; return its exit status."""
    from pmsync.cli import app

    err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        app(args=args, prog_name="pmsync")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def main() -> None:
    import pmsync.cli  # noqa: F401  (the CLI and everything it imports at start)
    from pmsync.connectors import load_connectors

    load_connectors()  # the connectors and their client libraries
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run_child(request["args"], request["stderr"])
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    main()
