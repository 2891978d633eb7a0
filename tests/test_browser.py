"""Issue 16: the report in a real browser. Headless Chromium and its driver from Debian's
packages (``make chromium``), driven by Selenium, open the CDNOW report in English and
Chinese at a phone's width (390 px) and a desktop's (1280 px): the index page and every
notebook page it links to. No page scrolls sideways, the browser logs no error, nothing is
fetched from outside the run folder, and chart text stays readable: at least 9 CSS pixels
as rendered on the index page (each figure records its smallest text), and notebook
figures kept at the size they were drawn (90 dpi; their smallest text, 8 pt, is 10 px)
inside boxes that scroll on their own."""
import re
import shutil

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = ["index.html", "01_data_cleaning.html", "02_value_tiers.html", "03_segments.html",
         "04_clv.html", "05_report.html"]
MIN_FONT_PX = 9.0
#: the words and numbers of the page's text whose letters stand on more than one line
BROKEN_WORDS = """
const bad = [], re = /[A-Za-z0-9][A-Za-z0-9,.%']*[A-Za-z0-9%]/g;
const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walk.nextNode() && bad.length < 5) {
  const node = walk.currentNode; let m; re.lastIndex = 0;
  while ((m = re.exec(node.data)) && bad.length < 5) {
    const r = document.createRange();
    r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
    const lines = new Set([...r.getClientRects()].filter(x => x.width > 0)
                            .map(x => Math.round(x.bottom)));
    if (lines.size > 1) bad.push(m[0]);
  }
}
return bad;
"""


def _driver_path():
    return shutil.which("chromedriver")


def _browser_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_browser = pytest.mark.skipif(
    _driver_path() is None or _browser_path() is None,
    reason="no headless Chromium and chromedriver (install them with `make chromium`)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = _browser_path()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--hide-scrollbars",
                f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_driver_path()), options=opts)
    yield driver
    driver.quit()


def _open(driver, path, width):
    driver.set_window_size(width, 900)
    # the layout viewport is the window's inner width: set it exactly
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:
        driver.set_window_size(2 * width - inner, 900)
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")
    return driver.execute_script("return window.innerWidth")


def _check_page(driver, path, width):
    inner = _open(driver, path, width)
    problems = []
    scroll = driver.execute_script("return document.documentElement.scrollWidth")
    if scroll > inner:
        wide = driver.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => "
            "e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 3)"
            ".map(e => e.tagName + '.' + e.className)")
        problems.append(f"scrolls sideways: {scroll} px wide in {inner} ({wide})")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if errors:
        problems.append(f"console errors: {errors[:3]}")
    outside = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith('data:') && !n.startsWith('file:'))")
    if outside:
        problems.append(f"requests outside the run folder: {outside[:3]}")
    if path.name == "index.html":  # no word or number broken across two lines
        broken = driver.execute_script(BROKEN_WORDS)
        if broken:
            problems.append(f"words broken mid-way: {broken}")
    if path.name != "index.html" and width < 700:  # notebook figures: full size, own box
        shrunk = driver.execute_script(
            "return [...document.querySelectorAll('.jp-RenderedImage img')]"
            ".filter(i => i.clientWidth < i.naturalWidth).length")
        if shrunk:
            problems.append(f"{shrunk} notebook figure(s) shrunk below their drawn size")
    fonts = driver.execute_script(
        "return [...document.querySelectorAll('img[data-min-font-px]')].map(i => "
        "[parseFloat(i.dataset.minFontPx) * i.clientWidth / i.naturalWidth, i.alt])")
    small = [(round(px, 1), alt) for px, alt in fonts if px < MIN_FONT_PX]
    if small:
        problems.append(f"chart text below {MIN_FONT_PX} px: {small[:3]}")
    return problems, len(fonts)


@needs_browser
@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_report_reads_on_a_phone_and_a_desktop(browser, cdnow_run, cdnow_zh_run,
                                                   language, width):
    run = (cdnow_run if language == "en" else cdnow_zh_run)[0]
    problems = {}
    for name in PAGES:
        found, figures = _check_page(browser, run / "report" / name, width)
        if name == "index.html":
            assert figures >= 4  # the index's charts carry their smallest text size
        if language == "zh":  # the notebook pages read in Chinese too
            heading = browser.find_element("tag name", "h1").text
            if not re.search(r"[\u4e00-\u9fff]", heading):
                found.append(f"heading not in Chinese: {heading!r}")
        if found:
            problems[name] = found
    assert not problems, problems
    _open(browser, run / "report" / "index.html", width)
    body = browser.find_element("tag name", "body").text
    title = {"en": "Customer analytics report", "zh": "客户分析报告"}[language]
    assert body.startswith(title)
    first = {"en": "What matters most", "zh": "最重要的发现"}[language]
    assert body.index(first) < body.index({"en": "Customers", "zh": "客户数"}[language])
