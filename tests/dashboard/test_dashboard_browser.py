"""End to end in headless Chromium: queue -> top campaign -> verdict -> stored, and prompts
with HTML stay text in the browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from review_store import XSS_ACCOUNT

from detector import store

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
                       reason="chromium and chromedriver are not installed"),
]
WAIT = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard(review_master, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One dashboard server for the module, on a private copy of the store and a free port."""
    review_db = tmp_path_factory.mktemp("browser") / "store.duckdb"
    shutil.copy(review_master[0], review_db)
    port = _free_port()
    log = review_db.with_name("dashboard.log")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "detector", "dashboard", "--db", str(review_db), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dashboard did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, review_db
    finally:
        # The command forwards SIGTERM to its server; the group kill is the safety net.
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,2200"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _text_appears(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, WAIT).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)


def test_triage_the_top_campaign_in_a_browser(dashboard, browser, tmp_path):
    url, db = dashboard
    con = store.connect(db, read_only=True)
    top = con.execute("SELECT campaign_id FROM dash_campaigns ORDER BY severity_rank DESC, score DESC,"
                      " campaign_id LIMIT 1").fetchall()[0][0]
    con.close()
    browser.get(url)
    _text_appears(browser, "Review queue")
    _text_appears(browser, top)
    browser.save_screenshot(str(tmp_path / "queue.png"))
    dialogs = browser.find_elements(By.CSS_SELECTOR, "[data-testid=stDialog]")
    assert not dialogs, [d.text for d in dialogs]
    link = WebDriverWait(browser, WAIT).until(ec.element_to_be_clickable((By.LINK_TEXT, top)))
    link.click()
    _text_appears(browser, "Record verdict")
    assert top in browser.find_element(By.TAG_NAME, "body").text
    analyst = browser.find_element(By.CSS_SELECTOR, "input[aria-label='Analyst']")
    analyst.send_keys(Keys.CONTROL, "a")
    analyst.send_keys("e2e-analyst", Keys.ENTER)
    time.sleep(1.5)
    browser.find_element(By.XPATH, "//label[.//p[text()='Dismiss']]").click()
    browser.find_element(By.CSS_SELECTOR, "textarea[aria-label='Note']").send_keys("partner benchmark, ticket T-1")
    browser.find_element(By.XPATH, "//button[.//p[text()='Record verdict']]").click()
    _text_appears(browser, "Recorded: dismissed by e2e-analyst")
    browser.save_screenshot(str(tmp_path / "campaign.png"))
    assert (tmp_path / "campaign.png").stat().st_size > 10_000
    con = store.connect(db, read_only=True)
    try:
        rows = con.execute("SELECT subject_type, subject_id, verdict, analyst, note FROM verdicts").fetchall()
    finally:
        con.close()
    assert rows == [("campaign", top, "dismissed", "e2e-analyst", "partner benchmark, ticket T-1")]


def test_html_in_prompts_stays_text_in_the_browser(dashboard, browser, tmp_path):
    url, _ = dashboard
    browser.get(f"{url}/account?account={XSS_ACCOUNT}")
    _text_appears(browser, "Sample prompts")
    _text_appears(browser, "<script>window.__xss = 1</script>")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert '<img src=x onerror="window.__xss = 2">' in body
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    browser.save_screenshot(str(tmp_path / "account.png"))
