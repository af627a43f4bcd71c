"""Screenshot of a study's explorer (docs/figures/explorer.png) in headless Chromium.

Snakemake adapter of rule `screenshot_explorer`, or by hand:
    python scripts/screenshot_explorer.py results/STUDY/explorer/index.html OUT.png [HASH]
Needs selenium and Debian's chromium and chromium-driver (`bash tools/setup.sh --tests`).
"""

import argparse
import time
from pathlib import Path

from longtail.reporting.browser import chromium
from longtail.store.io import write_bytes


def screenshot(html: str, png: str, view: str = "", width: int = 1280,
               height: int = 900) -> None:
    """Open ``html`` at the URL hash ``view`` and save the window as ``png``."""
    with chromium(width, height) as driver:
        driver.get(Path(html).resolve().as_uri() + view)
        time.sleep(1)  # sprite sheets decode after the DOM is ready
        write_bytes(png, driver.get_screenshot_as_png())


if "snakemake" in globals():
    from longtail.workflow.logs import log_to

    with log_to(snakemake.log[0]):
        screenshot(snakemake.input[0], snakemake.output[0], snakemake.params.view)
else:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", help="results/STUDY/explorer/index.html")
    parser.add_argument("png", help="the screenshot to write")
    parser.add_argument("view", nargs="?", default="#grid?split=train&sort=mem",
                        help="URL hash of the view (default: training examples by mem)")
    args = parser.parse_args()
    screenshot(args.html, args.png, args.view)
