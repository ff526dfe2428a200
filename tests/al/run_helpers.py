"""Helpers of the `after al` CLI tests: kill a run part way, and rewrite a label sheet as a person would."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable


def kill_mid_run(config: Path, run: Path, rounds_done: Callable[[Path], int], attempts: int = 20) -> int:
    """Start ``after al CONFIG -o RUN`` and SIGKILL it as soon as some rounds are done; returns how many were.

    Each attempt waits for one more finished round before killing, until a kill lands before the run ends.
    Returns 0 when no attempt caught the run mid-way.
    """
    cmd = [sys.executable, "-m", "after.cli", "al", str(config), "-o", str(run)]
    for attempt in range(attempts):
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if (run / "rounds.jsonl").is_file() and rounds_done(run) >= 2 + attempt:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            return rounds_done(run)
    return 0


def write_sheet(path: Path, rows: list[dict]) -> None:
    """Write label-sheet rows back (the columns of the first row), as a person saving the CSV would."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
