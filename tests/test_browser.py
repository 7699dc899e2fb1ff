"""luigid's web UI in a real headless browser shows a running batch and its status message.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/install-browser.sh``) and the
``selenium`` package; nothing is downloaded. Without them the test skips, or fails under
``ASTRA_REQUIRE_SERVICES=1``.
"""

import os
import re
import shutil
import signal
import tempfile

import pytest

from cluster_batch_tasks import wait_for_status_message
from service_fixtures import start_worker

pytestmark = [pytest.mark.browser, pytest.mark.luigid]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = "chromium not installed: apt-get install chromium chromium-driver; pip install selenium"

#: Flags for a headless chromium that talks to nothing but the page it is given.
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1400,1000",
)


def _require_or_skip(reason):
    if os.environ.get("ASTRA_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (ASTRA_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path):
    """A headless chromium driven by Selenium through Debian's chromedriver; quit after.

    :returns: a :class:`selenium.webdriver.Chrome`.
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require_or_skip(MISSING + " (selenium is missing)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            _require_or_skip("{} ({} is missing)".format(MISSING, path))
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=str(tmp_path))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir={}".format(profile))
    # An explicit driver path: Selenium Manager (which would download drivers) is not used.
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_web_ui_shows_running_batch_with_status_message(browser, luigid, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    log = tmp_path / "log.txt"
    worker = start_worker("cluster_batch_tasks", "SpectraGraph",
                          ["--n", "40", "--batch-size", "40", "--log-path", str(log), "--sleep", "0.5"],
                          luigid.env, scheduler=luigid, log_path=str(tmp_path / "worker.log"))
    try:
        task_id, _ = wait_for_status_message(luigid, r"^([1-9]\d*)/40 spectra$", timeout=60)
        browser.get("{}static/visualiser/index.html".format(luigid.url))
        wait = WebDriverWait(browser, 30)
        # the running batch is listed with a status-message button
        button = wait.until(ec.element_to_be_clickable(
            (By.CSS_SELECTOR, '#taskTable button.statusMessage[data-task-id="{}"]'.format(task_id))))
        row_text = button.find_element(By.XPATH, "./ancestor::tr").text
        assert "clusterbatch.Spectrum" in row_text, row_text
        button.click()
        message = wait.until(lambda d: _modal_message(d, By))
        assert re.match(r"^[1-9]\d*/40 spectra$", message), message
        title = browser.find_element(By.CSS_SELECTOR, "#statusMessageModal .modal-title").text
        assert "clusterbatch.Spectrum" in title, title
        screenshot = tmp_path / "luigid-status-message.png"
        assert browser.save_screenshot(str(screenshot))
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, len(data)


def _modal_message(driver, by):
    """The status message shown in the visible modal, or ``False`` while there is none."""
    elements = driver.find_elements(by.CSS_SELECTOR, "#statusMessageModal pre")
    if not elements or not elements[0].is_displayed():
        return False
    return elements[0].text.strip() or False
