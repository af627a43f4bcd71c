"""The explorer in a real browser (issue 21): headless Chromium (Debian's chromium and
chromium-driver, `bash tools/setup.sh --tests`) through selenium, on the explorer the workflow
builds for the tiny end-to-end study (`snakemake explorer`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, snakemake

from longtail.estimators.estimates import load_influence, read_estimates
from longtail.reporting.browser import chromium, missing_browser, requested_urls

pytestmark = pytest.mark.e2e

WAIT = 20  # seconds for a view to appear


@pytest.fixture(scope="module")
def explorer(tiny_study: Path) -> Path:
    """The tiny study's explorer, built by the workflow's `explorer` target."""
    snakemake(tiny_study, TINY, "explorer")
    return tiny_study / "results" / "tiny" / "explorer" / "index.html"


@pytest.fixture(scope="module")
def browser():
    if reason := missing_browser():
        # CI installs them (tools/setup.sh --tests): there a missing browser is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)
    with chromium(logs=True) as driver:
        yield driver


def open_view(driver, explorer: Path, view: str, ready: str):
    """Load the explorer at URL hash ``view`` (a fresh page load) and wait for CSS ``ready``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get(explorer.as_uri() + view)
    return WebDriverWait(driver, WAIT).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ready)))


def errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def strongest_pair(tiny_study: Path) -> pd.Series:
    pairs = pd.read_csv(tiny_study / "results" / "tiny" / "pairs.csv")
    assert len(pairs), "the tiny study selects pairs"
    return pairs.sort_values(["infl", "test_index"], ascending=[False, True]).iloc[0]


def test_pages_load_offline_without_console_errors(browser, explorer: Path) -> None:
    errors(browser), requested_urls(browser)  # drop what earlier pages logged
    loaded = []
    for view, ready in (("", "#description"), ("#grid?split=train&sort=mem", "#grid .cell"),
                        ("#grid?split=test&sort=count", "#grid .cell"),
                        ("#example/train/0", "#facts"), ("#example/test/0", "#influence")):
        open_view(browser, explorer, view, ready)
        assert errors(browser) == [], view
        loaded += requested_urls(browser)
    assert {"data.js", "explorer.js", "train-000.png", "test-000.png"} <= {
        url.rsplit("/", 1)[-1] for url in loaded}, loaded
    assert all(url.split(":")[0] in ("file", "data", "about") for url in loaded), loaded
    text = open_view(browser, explorer, "", "#description").text
    assert "fashion-mnist" in text and "θ_infl" in text and "replicate" in text


def test_class_filter_shows_only_that_class(browser, explorer: Path, tiny_study: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    labels = read_estimates(tiny_study / "results" / "tiny" / "estimates.h5").train_labels
    open_view(browser, explorer, "#grid?split=train", "#grid .cell")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#grid .cell")) == len(labels)
    Select(browser.find_element(By.CSS_SELECTOR, "select[name=class]")).select_by_value("3")
    WebDriverWait(browser, WAIT).until(lambda d: "class=3" in d.current_url)
    cells = browser.find_elements(By.CSS_SELECTOR, "#grid .cell")
    assert len(cells) == int((labels == 3).sum()) > 0
    assert {cell.get_attribute("data-label") for cell in cells} == {"3"}
    assert browser.find_element(By.ID, "count").text == f"{(labels == 3).sum()} examples"
    assert errors(browser) == []


def influence_rows(driver) -> list[tuple[str, str, str]]:
    from selenium.webdriver.common.by import By

    return [(row.get_attribute("data-index"), row.get_attribute("class") or "",
             row.find_element(By.CSS_SELECTOR, ".infl").text)
            for row in driver.find_elements(By.CSS_SELECTOR, "#influence tr[data-index]")]


def test_clicking_a_test_example_with_a_pair_shows_its_influencer(
        browser, explorer: Path, tiny_study: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    pair = strongest_pair(tiny_study)
    i, j = int(pair["train_index"]), int(pair["test_index"])
    open_view(browser, explorer, "#grid?split=test", "#grid .cell")
    browser.find_element(By.CSS_SELECTOR, f"#grid .cell[data-index='{j}']").click()
    WebDriverWait(browser, WAIT).until(ec.url_contains(f"#example/test/{j}"))
    row = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"#influence tr[data-index='{i}']")))
    assert "pair" in row.get_attribute("class") and "★" in row.text
    estimates = tiny_study / "results" / "tiny" / "estimates.h5"
    infl = float(load_influence(estimates, [i], [j], pairwise=True)[0])
    se = float(load_influence(estimates, [i], [j], pairwise=True, se=True)[0])
    shown, shown_se = (float(part) for part in row.find_element(
        By.CSS_SELECTOR, ".infl").text.split("±"))
    assert abs(shown - infl) <= 6e-4 and abs(shown_se - se) <= 6e-4  # 3 decimals of 4 stored
    assert float(row.get_attribute("data-infl")) == pytest.approx(infl, abs=5e-5)
    # the strongest pair's training example is the test example's first influencer
    assert influence_rows(browser)[0][0] == str(i)
    assert errors(browser) == []


def test_a_hash_url_opens_the_same_example(browser, explorer: Path, tiny_study: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    j = int(strongest_pair(tiny_study)["test_index"])
    open_view(browser, explorer, "#grid?split=test", "#grid .cell")
    browser.find_element(By.CSS_SELECTOR, f"#grid .cell[data-index='{j}']").click()
    WebDriverWait(browser, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#influence tr[data-index]"))
    clicked = (browser.find_element(By.TAG_NAME, "h1").text, influence_rows(browser))
    url = browser.current_url
    assert url.endswith(f"#example/test/{j}")
    browser.get("about:blank")
    browser.get(url)
    WebDriverWait(browser, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#influence tr[data-index]"))
    assert (browser.find_element(By.TAG_NAME, "h1").text, influence_rows(browser)) == clicked
    assert clicked[0] == f"Test example {j}"
    est = read_estimates(tiny_study / "results" / "tiny" / "estimates.h5")
    assert f"{j}" in browser.find_element(By.ID, "facts").text
    assert str(int(est.test_source_index[j])) in browser.find_element(By.ID, "facts").text


def test_screenshot_for_the_docs(browser, explorer: Path, tiny_study: Path) -> None:
    """`snakemake docs/figures/explorer.png` (part of target `docs`) draws the explorer."""
    png = tiny_study / "docs" / "figures" / "explorer.png"
    snakemake(tiny_study, TINY, str(png.relative_to(tiny_study)))
    from PIL import Image

    with Image.open(png) as image:
        assert image.size[0] == 1280
        assert len(np.unique(np.asarray(image.convert("L")))) > 50  # thumbnails, not blank
    shutil.rmtree(tiny_study / "docs")


def test_load_benchmark_times_every_view_offline(browser, explorer: Path) -> None:
    """benchmarks/explorer_load.py reads each view's own clock and prints its JSON contract."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "benchmarks/explorer_load.py", str(explorer),
                           "--repeats", "1"], capture_output=True, text=True, timeout=300,
                          cwd=root, check=True)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [line["view"] for line in lines] == [
        "study", "grid_train_by_mem", "grid_test_by_count", "example_train", "example_test"]
    size = sum(path.stat().st_size for path in explorer.parent.rglob("*") if path.is_file())
    for line in lines:
        assert line["explorer_bytes"] == size and line["external"] == []
        assert 0 < line["dom_ms"] <= line["load_ms"] and line["interactive_ms"] > 0
        assert {"data.js", "explorer.js"} <= set(line["resources"])
