"""How fast a study's explorer shows its first view, in headless Chromium.

Opens ``results/{study}/explorer/index.html`` from ``file://`` ``--repeats`` times per view
(a fresh page load each: about:blank, then the URL) and reads the page's own clock:

* ``interactive_ms``: navigation start to the end of the view's first drawing (the
  ``longtail:view`` performance mark explorer.js sets once the view's elements and their
  handlers are in the page: it can be clicked);
* ``dom_ms``: navigation start to DOMContentLoaded (data.js and explorer.js parsed and run);
* ``load_ms``: navigation start to the load event (every thumbnail sprite sheet fetched).

Prints one JSON line per view with the median and maximum over the repeats, the explorer's
size on disk (``explorer_bytes``) and the resources the page requested (all must be file:
URLs). Needs Debian's chromium and chromium-driver and selenium (bash tools/setup.sh --tests).

    python benchmarks/explorer_load.py results/fashion-mnist-mlp/explorer/index.html
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from longtail.reporting.browser import chromium, requested_urls

VIEWS = {  # view name: URL hash
    "study": "",
    "grid_train_by_mem": "#grid?split=train&sort=mem",
    "grid_test_by_count": "#grid?split=test&sort=count",
    "example_train": "#example/train/0",
    "example_test": "#example/test/0",
}
TIMES = """
const [nav] = performance.getEntriesByType("navigation");
const [view] = performance.getEntriesByName("longtail:view");
return {interactive_ms: view ? view.startTime : null,
        dom_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd};
"""


def cpu_name() -> str:
    """The CPU's model name (Linux), else its architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else os.uname().machine


def load_times(driver, url: str, timeout_s: float = 30.0) -> dict:
    """One fresh load of ``url``: the page's own timings once its load event has fired, and
    the URLs it requested (DevTools' network events)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get_log("performance")  # drop the events of earlier loads
    driver.get(url)
    WebDriverWait(driver, timeout_s, poll_frequency=0.01).until(
        lambda d: d.execute_script(TIMES)["load_ms"] > 0)
    times = driver.execute_script(TIMES)
    if times["interactive_ms"] is None:
        raise RuntimeError(f"{url} set no longtail:view mark: the view failed to draw")
    times["resources"] = requested_urls(driver)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="results/STUDY/explorer/index.html")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    html = args.html.resolve()
    size = sum(path.stat().st_size for path in html.parent.rglob("*") if path.is_file())
    with chromium(logs=True) as driver:
        for name, view in VIEWS.items():
            runs = [load_times(driver, html.as_uri() + view) for _ in range(args.repeats)]
            resources = sorted({url.rsplit("/", 1)[-1] for run in runs
                                for url in run["resources"]})
            external = sorted({url for run in runs for url in run["resources"]
                               if not url.startswith(("file:", "data:"))})
            line = {"benchmark": "explorer_load", "view": name, "hash": view,
                    "explorer": str(args.html), "explorer_bytes": size,
                    "repeats": args.repeats, "resources": resources, "external": external,
                    "device": cpu_name(),
                    "load_average": round(os.getloadavg()[0], 2)}
            for key in ("interactive_ms", "dom_ms", "load_ms"):
                values = [run[key] for run in runs]
                line[key] = round(statistics.median(values), 1)
                line[key.replace("_ms", "_max_ms")] = round(max(values), 1)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
