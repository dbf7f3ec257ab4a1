"""The screenshot of a report in docs/report.png: the page opened in headless Chromium (Playwright), its top part.

    python scripts/report_screenshot.py runs/demo/report.html docs/report.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main(page_path: str, out: str, height: int = 2200) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(Path(page_path).resolve().as_uri())
        page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)")
        page.evaluate("""() => Promise.all([...document.querySelectorAll('video')].map(v => new Promise(done => {
            v.pause(); v.onseeked = done; v.currentTime = 1.5; })))""")
        page.wait_for_timeout(1000)
        page.screenshot(path=out, full_page=True, clip={"x": 0, "y": 0, "width": 1100, "height": height})
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
