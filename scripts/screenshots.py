"""Screenshots of a recipe's TensorBoard dashboard, taken with headless Chromium.

    python scripts/screenshots.py runs/resmlp_vs_mlp docs/images

starts ``tensorboard --logdir runs/resmlp_vs_mlp`` on a free local port, waits until it has read the runs,
and saves one PNG per tab into ``docs/images/`` (``dashboard_compare.png``: Custom Scalars, whose first
section is the arms' medians over seeds with their min-max bands; ``dashboard_time_series.png``;
``dashboard_hparams.png``; ``dashboard_figures.png``: Images, the report's figures), then stops
TensorBoard. Needs Debian's ``chromium`` (or ``--chromium PATH``); nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TABS = {
    "dashboard_compare": ("custom_scalars", (1400, 2400), 20000),
    # Time Series draws its charts last: with 20 s of virtual time on a busy machine its cards show their
    # data tables but empty charts (seen at load average 16); 60 s draws them
    "dashboard_time_series": ("timeseries", (1400, 1100), 60000),
    "dashboard_hparams": ("hparams", (1400, 700), 20000),
    "dashboard_figures": ("images", (1400, 1100), 20000),
}
"""PNG name -> (TensorBoard tab, window size, virtual-time budget in milliseconds)."""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def start_tensorboard(logdir: Path, log: Path, timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """A TensorBoard on 127.0.0.1 and a free port (its output in ``log``); returns the process and its base
    URL."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(logdir),
                "--port",
                "0",
                "--host",
                "127.0.0.1",
                "--reload_interval",
                "1",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        # TensorBoard prints "TensorBoard 2.x at http://127.0.0.1:PORT/ (Press CTRL+C to quit)"
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", log.read_text(errors="replace"))
        if match:
            return process, match.group(1)
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"tensorboard did not start: {log.read_text(errors='replace')[-2000:]}")


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read().decode())


def wait_for_runs(base: str, expected: int, timeout: float = 120.0) -> list[str]:
    """Poll ``/data/runs`` until TensorBoard lists ``expected`` runs (it reads event files in the
    background)."""
    deadline = time.monotonic() + timeout
    runs: list[str] = []
    while time.monotonic() < deadline:
        runs = list(get_json(base + "data/runs"))  # type: ignore[call-overload]
        if len(runs) >= expected:
            return runs
        time.sleep(0.5)
    raise RuntimeError(f"tensorboard lists {len(runs)} runs, expected {expected}: {runs}")


def screenshot(chromium: str, url: str, path: Path, size: tuple[int, int], budget_ms: int = 20000) -> None:
    """One headless-Chromium screenshot of ``url`` (a fresh, empty profile every time)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={path}",
                f"--window-size={size[0]},{size[1]}",
                f"--virtual-time-budget={budget_ms}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=Path, help="a recipe's output folder, e.g. runs/resmlp_vs_mlp")
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/images"), help="folder for the PNGs")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--tabs", nargs="*", default=list(TABS), choices=list(TABS))
    args = parser.parse_args(argv)
    expected = len({p.parent for p in args.logdir.rglob("events.out.tfevents.*")})
    args.out.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="tensorboard-")) / "tensorboard.log"
    process, base = start_tensorboard(args.logdir, log)
    try:
        print(f"tensorboard at {base}: runs {wait_for_runs(base, expected)}")
        for name in args.tabs:
            tab, size, budget_ms = TABS[name]
            path = args.out / f"{name}.png"
            screenshot(args.chromium, f"{base}#{tab}", path.resolve(), size, budget_ms)
            print(f"wrote {path}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
