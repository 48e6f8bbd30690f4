"""Headless Chromium through Selenium and the system's chromedriver (never a downloaded one)."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,2000")


def find() -> tuple[str | None, str | None, str]:
    """(browser, driver, why not) for this machine."""
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    missing = [what for what, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    why = f"no {' and no '.join(missing)} on PATH (Debian: apt-get install chromium chromium-driver)" if missing else ""
    return browser, driver, why


@contextmanager
def chromium(browser: str, driver: str, timeout: float = 60):
    """A Selenium Chrome driver on a fresh profile; quits (and so ends the browser) on exit."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    profile = tempfile.mkdtemp(prefix="harness-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # the path given: Selenium skips its driver manager entirely
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    session.set_page_load_timeout(timeout)
    session.set_script_timeout(timeout)
    try:
        yield session
    finally:
        session.quit()
        shutil.rmtree(profile, ignore_errors=True)
