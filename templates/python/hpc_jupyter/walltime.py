"""How long the job has left, so engines can retire before the batch system stops them.

Usage: python -m hpc_jupyter.walltime MARGIN_FRACTION MIN_MARGIN_S
Prints the seconds a worker may live (time left less a margin), or nothing when unknown.
"""

import os
import subprocess
import sys


def parse_slurm_time(text):
    """Seconds in squeue's %L format ([D-]HH:MM:SS or MM:SS); None for UNLIMITED and the like."""
    text = text.strip()
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        if not head.isdigit():
            return None
        days = int(head)
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + int(p)
    return days * 86400 + seconds


def seconds_left():
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--jobs", job, "--format", "%L"],
            capture_output=True, text=True, timeout=30, check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_slurm_time(out) if out.strip() else None


def lifetime(left, fraction, minimum):
    """Time left less max(fraction of it, minimum); None when that leaves nothing."""
    if left is None:
        return None
    life = left - max(int(left * fraction), minimum)
    return life if life > 0 else None


if __name__ == "__main__":
    life = lifetime(seconds_left(), float(sys.argv[1]), int(sys.argv[2]))
    if life is not None:
        print(life)
