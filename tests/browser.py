"""Headless Chromium for the tests that look at a page as a person would (the HTML report,
the FiftyOne App): one way to run it, skipped with a message where it is not installed."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def chromium(tmp_path: Path, *args: str, timeout: int = 120) -> str:
    """Run headless Chromium with ``args`` (``--dump-dom URL``, ``--screenshot=...``) and
    a private profile under ``tmp_path``; its stdout. Skips the test without Chromium."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (apt-get install chromium); CI installs it")
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_text(dom: str) -> str:
    """The words of a dumped page, tags dropped, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
