"""astra web in a real headless chromium: start a run from the page, watch it, inspect it.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; nothing is
downloaded. Screenshots are saved in the test's temporary directory.
"""

import time

import pytest

from astra.tools import synthetic
from test_browser import browser  # noqa: F401  (the headless chromium fixture)
from web_fixtures import web_config, web_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _screenshot(driver, path):
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, (path, len(data))


def test_start_watch_and_inspect_a_run_in_the_browser(browser, web_server, web_config, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    tree = synthetic.write_sample_tree(web_config["sas"], 200, release="dr13", species="apStar", seed=11, corrupt=1)
    (index,) = tree.corrupt
    broken = tree.paths[index]
    wait = WebDriverWait(browser, 60)

    # Choose the task, set the flag (shown with its long name), start.
    browser.get(web_server.url + "start")
    browser.find_element(By.LINK_TEXT, "WatchableSNR").click()
    flag = wait.until(ec.presence_of_element_located((By.ID, "flag-slow_down")))
    label = flag.find_element(By.XPATH, "./ancestor::label").text
    assert "Take 25 ms per spectrum, so the progress can be watched" in label, label
    assert not flag.is_selected()
    flag.click()
    for name, value in (("release", "dr13"), ("species", "apStar"), ("max_batch_size", "50")):
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "start-button").click()
    wait.until(ec.url_matches(r"/runs/\d+$"))
    run_id = int(browser.current_url.rstrip("/").rsplit("/", 1)[1])

    # Watch the progress bar reach 100% while the log pane grows.
    percents, lines, state = [], [], None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        percent = browser.find_element(By.CSS_SELECTOR, ".summary [data-field=percent]").text
        state = browser.find_element(By.CSS_SELECTOR, ".summary [data-field=state]").text
        log_lines = browser.find_element(By.CSS_SELECTOR, "pre.log-text").get_attribute("data-lines")
        percents.append(int(percent.rstrip("%")))
        lines.append(int(log_lines or 0))
        if len(percents) == 8:
            _screenshot(browser, tmp_path / "web-run-progress.png")
        if state in ("done", "failed", "error", "stopped"):
            break
        time.sleep(0.25)
    time.sleep(2.5)  # the last log lines arrive with the next polls
    # the percent is read before the state: a poll may have updated both between the two reads
    percents.append(int(browser.find_element(By.CSS_SELECTOR, ".summary [data-field=percent]").text.rstrip("%")))
    lines.append(int(browser.find_element(By.CSS_SELECTOR, "pre.log-text").get_attribute("data-lines") or 0))
    assert state == "failed", (state, web_server.log())  # one spectrum is broken
    assert percents[-1] == 100 and any(0 < p < 100 for p in percents), percents
    assert percents == sorted(percents), percents
    assert len(set(lines)) >= 3 and lines[-1] > lines[0], lines
    log_text = browser.find_element(By.CSS_SELECTOR, "pre.log-text").text
    assert f"run {run_id} failed" in log_text and "199 spectra done" in log_text, log_text[-2000:]
    pre = browser.find_element(By.CSS_SELECTOR, "pre.log-text")
    scrolled = browser.execute_script(
        "return arguments[0].scrollTop + arguments[0].clientHeight >= arguments[0].scrollHeight - 2", pre)
    assert scrolled, "the log pane follows the end"
    done = browser.find_element(By.CSS_SELECTOR, ".summary [data-field=done]").text
    failed = browser.find_element(By.CSS_SELECTOR, ".summary [data-field=failed]").text
    assert (done, failed) == ("199", "1")
    batch_bars = browser.find_elements(By.CSS_SELECTOR, "table.batches progress")
    assert len(batch_bars) == 4
    assert all(b.get_attribute("value") == b.get_attribute("max") == "50" for b in batch_bars)
    assert "slow_down" in browser.find_element(By.CSS_SELECTOR, "table.details").text
    _screenshot(browser, tmp_path / "web-run-finished.png")

    # The broken spectrum is in the failures table, with its file and reason.
    browser.find_element(By.CSS_SELECTOR, "[data-failures-link]").click()
    table = wait.until(ec.presence_of_element_located((By.ID, "failures-table")))
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr[data-failure-id]")
    assert len(rows) == 1, table.text
    assert broken in rows[0].find_element(By.CSS_SELECTOR, "td.path").text
    assert rows[0].find_element(By.CSS_SELECTOR, "td.reason").text
    _screenshot(browser, tmp_path / "web-failures.png")

    # The results: a histogram of S/N drawn by the server.
    browser.get(web_server.url + "results")
    browser.find_element(By.LINK_TEXT, "EstimateSNRResult").click()
    wait.until(ec.presence_of_element_located((By.ID, "plot-x")))
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "plot-x")).select_by_visible_text("snr")
    browser.find_element(By.ID, "apply-filters").click()
    image = wait.until(ec.presence_of_element_located((By.ID, "results-plot")))
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert browser.execute_script("return arguments[0].naturalWidth", image) > 300
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")) == 50
    _screenshot(browser, tmp_path / "web-results-plot.png")
