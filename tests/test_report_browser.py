"""The class report in a real browser: Debian's headless Chromium driven by Selenium (chromium-driver).

The page renders without console errors, the heatmap sorts and filters (its script runs), links
open the student's section, and nothing a hostile name carries runs. Skipped where Chromium, its
driver or Selenium is missing (`.ci/run` installs them). A screenshot is left beside the report
(and copied to $GRADER_ARTIFACTS when set).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import make_notebook, replace_function, solution_cells
from test_class_report import HOSTILE, case, function, record, tiny_class, two_functions

#: A hostile student id: a batch's ids are file names (results/<id>.json), so no "/" (the page's own
#: escaping of "</script>" is met in the messages and the notebook path below).
NAMED = HOSTILE.replace("/", "\u2215")
from test_similarity import OWN_RNN_CELL as OWN, plant_copy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("Chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)  # never downloads a driver
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A mixed class: passes, partial credit, a diagnosed mistake, a timeout, a notebook that could not
    be graded, a hostile name, and a planted copy (for the similarity section)."""
    from grader.classreport import write_report

    folder = tmp_path_factory.mktemp("class")
    cells = solution_cells("rnn_step_by_step.ipynb")
    own = make_notebook(folder / "own.ipynb", *replace_function(cells, "rnn_cell_forward", OWN))
    copied = make_notebook(folder / "copied.ipynb", *replace_function(cells, "rnn_cell_forward", plant_copy(OWN)))
    records = tiny_class() + [
        dict(two_functions("writer", (True, True), (True, False)), notebook=str(own)),
        dict(two_functions("copier", (True, True), (True, False)), notebook=str(copied)),
        record("slow", [function("f", [case("c1", False)], status="timeout"),
                        function("g", [case("d1", False)], diagnosis="uses np.tan instead of np.tanh")]),
        record(NAMED, [function("f", [case("c1", False, message=HOSTILE)], diagnosis=HOSTILE),
                         function("g", [case("d1", True)])], notebook=f"/x/{HOSTILE}.ipynb"),
        record("javascript:window.__pwned=4", [], error=f"{HOSTILE}: is not a valid notebook"),
    ]
    out = folder / "grades"
    (out / "results").mkdir(parents=True)
    for data in records:  # results/<student>.json, as a batch writes them
        (out / "results" / f"{data['student']}.json").write_text(json.dumps(data))
    return write_report(out)


def rows(browser) -> list:
    return browser.find_elements("css selector", "#heatmap tbody tr")


def visible_names(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#heatmap tbody tr')).filter(r => !r.hidden)"
        ".map(r => r.cells[0].textContent)")


def test_the_report_renders_without_console_errors_and_no_hostile_script_runs(browser, report):
    browser.get(report.as_uri())
    assert browser.title == "Class report"
    assert browser.find_element("css selector", "#glance .card b").text == "9"  # students
    assert len(rows(browser)) == 9
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert browser.execute_script("return document.scripts.length") == 1
    svgs = browser.execute_script("return document.querySelectorAll('figure svg').length")
    assert svgs in (0, 3)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    screenshot = report.with_name("report.png")
    assert browser.save_screenshot(str(screenshot))
    if os.environ.get("GRADER_ARTIFACTS"):
        Path(os.environ["GRADER_ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(os.environ["GRADER_ARTIFACTS"]) / "report.png")


def test_the_heatmap_sorts_when_a_header_is_clicked(browser, report):
    browser.get(report.as_uri())
    header = browser.find_element("xpath", "//table[@id='heatmap']//th[normalize-space()='score']")
    header.click()
    scores = browser.execute_script(
        "return Array.from(document.querySelectorAll('#heatmap tbody tr')).map(r => parseFloat(r.cells[1].dataset.v))")
    assert scores == sorted(scores)
    header.click()
    again = browser.execute_script(
        "return Array.from(document.querySelectorAll('#heatmap tbody tr')).map(r => parseFloat(r.cells[1].dataset.v))")
    assert again == sorted(scores, reverse=True)
    assert again[0] == 100.0 and again[-1] == -1  # not graded last


def test_the_heatmap_filters_by_status_function_and_name(browser, report):
    from selenium.webdriver.support.ui import Select

    browser.get(report.as_uri())
    Select(browser.find_element("id", "hm-status")).select_by_value("timeout")
    assert visible_names(browser) == ["slow"]
    Select(browser.find_element("id", "hm-status")).select_by_value("passed")
    Select(browser.find_element("id", "hm-function")).select_by_value("g")
    assert sorted(visible_names(browser)) == sorted(["A", "B", NAMED])
    assert browser.find_element("id", "hm-count").text == "3 of 9 students"
    Select(browser.find_element("id", "hm-status")).select_by_value("not_graded")
    assert visible_names(browser) == ["javascript:window.__pwned=4"]
    Select(browser.find_element("id", "hm-status")).select_by_value("")
    browser.find_element("id", "hm-search").send_keys("copi")
    assert visible_names(browser) == ["copier"]


def opened(browser, anchor: str) -> None:
    """Wait for the section to open; the deadline only stops a hang."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script("return document.getElementById(arguments[0]).open", anchor))


def test_links_open_the_students_report(browser, report):
    browser.get(report.as_uri())
    link = browser.find_element("xpath", "//table[@id='heatmap']//a[normalize-space()='slow']")
    target = link.get_attribute("href").split("#")[1]
    assert not browser.execute_script("return document.getElementById(arguments[0]).open", target)
    link.click()
    opened(browser, target)  # the page's script opens it on the hashchange event, which comes after the click
    assert "np.tan instead of np.tanh" in browser.find_element("id", target).text
    # the hostile name's link opens its section and shows the name as text
    hostile = browser.find_element("xpath", "//table[@id='heatmap']//a[contains(., 'window.__pwned=1')]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", hostile)
    hostile.click()
    opened(browser, hostile.get_attribute("href").split("#")[1])
    section = browser.find_element("id", hostile.get_attribute("href").split("#")[1])
    assert "<script>window.__pwned=1</script>" in section.text
    assert browser.execute_script("return window.__pwned === undefined")


def test_the_similarity_section_shows_the_planted_pair_side_by_side(browser, report):
    browser.get(report.as_uri())
    pairs = browser.find_elements("css selector", "#similarity tbody tr")
    assert len(pairs) == 1 and "writer" in pairs[0].text and "copier" in pairs[0].text
    pairs[0].find_element("link text", "fragments").click()
    opened(browser, "pair-1")
    detail = browser.find_element("id", "pair-1")
    assert len(detail.find_elements("css selector", ".pair pre mark")) >= 2
