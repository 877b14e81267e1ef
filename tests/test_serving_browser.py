"""The search page in a real browser: Debian's Chromium (headless) driven by Selenium against
``deephash serve`` on 127.0.0.1. Uploads an image through the page and reads the result
thumbnails; every result must be the Python API's answer, and the page may load nothing from
elsewhere. ``tools/test.sh`` installs chromium and chromium-driver when they are missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from _serving import build_images, serve, shots

if not shots.have_chromium():
    pytest.skip(
        f"needs Chromium and its driver ({shots.CHROMIUM}, {shots.CHROMEDRIVER}): apt-get install chromium "
        "chromium-driver (tools/test.sh installs them)",
        allow_module_level=True,
    )
pytest.importorskip("selenium")

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from deephash.collection import Collection

results = shots.results


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    src, col = build_images(base, per_class=6)
    col.close()
    return src, base / "col"


@pytest.fixture(scope="module")
def browser():
    driver = shots.chromium_driver()
    try:
        yield driver
    finally:
        driver.quit()


def test_upload_an_image_through_the_page_and_see_the_results(collection, browser):
    src, path = collection
    query = src / "blue" / "04.png"
    col = Collection.open(path)
    expected = col.search(str(query), k=5)
    with serve(path, "-k", "5") as url:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: "18 images" in d.find_element(By.ID, "info").text)
        assert browser.find_element(By.ID, "drop").is_displayed()
        assert not browser.find_element(By.ID, "text-form").is_displayed()  # an image collection
        browser.find_element(By.ID, "file").send_keys(str(query))
        wait.until(lambda d: "results in" in d.find_element(By.ID, "status").text)
        wait.until(lambda d: len(results(d)) == 5 and all(r[3] for r in results(d)))
        got = results(browser)
        assert [(r[0], r[2]) for r in got] == [(h.id, h.path) for h in expected]
        assert [r[1] for r in got] == [f"#{i + 1} · distance {h.distance}" for i, h in enumerate(expected)]
        assert got[0][2] == str(query) and got[0][1].endswith("distance 0")
        assert all(r[4] == f"{url}items/{r[0]}/thumbnail" for r in got)
        assert browser.find_element(By.ID, "preview").is_displayed()

        # a result card searches for items like it
        like = [h.id for h in col.search(got[2][0], k=5)]
        assert like != [r[0] for r in got]
        browser.find_elements(By.CSS_SELECTOR, "#results .result")[2].click()
        wait.until(lambda d: [r[0] for r in results(d)] == like)

        # a bad k is refused on the page, a file that is no image by the server: messages, no crash
        k = browser.find_element(By.ID, "k")
        k.clear()
        k.send_keys("3")
        bogus = path.parent / "notes.png"
        bogus.write_bytes(b"plain text, not a picture")
        browser.find_element(By.ID, "file").send_keys(str(bogus))
        wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("class") == "error")
        assert "400" in browser.find_element(By.ID, "status").text
        browser.find_element(By.ID, "file").send_keys(str(src / "red" / "03.jpg"))
        wait.until(lambda d: len(results(d)) == 3 and all(r[3] for r in results(d)))
        assert results(browser)[0][2] == str(src / "red" / "03.jpg")

        # everything the page loaded came from this server
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(u.startswith(url) or u.startswith("blob:") for u in loaded), loaded
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "400" not in e["message"]]
        assert severe == []
    col.close()


def test_add_through_the_page(collection, browser, tmp_path):
    src, path = collection
    shutil.copytree(path, tmp_path / "col")
    from PIL import Image

    new = tmp_path / "yellow.png"
    Image.new("RGB", (48, 40), (240, 230, 20)).save(new)
    with serve(tmp_path / "col") as url:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: "18 images" in d.find_element(By.ID, "info").text)
        browser.find_element(By.ID, "file").send_keys(str(new))
        wait.until(lambda d: "results in" in d.find_element(By.ID, "status").text)
        browser.find_element(By.ID, "add").click()
        wait.until(lambda d: "added yellow.png" in d.find_element(By.ID, "status").text)
        assert "19 images" in browser.find_element(By.ID, "info").text
    col = Collection.open(tmp_path / "col")
    hit = col.search(str(new), k=1)[0]
    assert hit.distance == 0 and Path(hit.path).parent == tmp_path / "col" / "uploads"
    col.close()


def test_screenshot_for_the_user_guide(collection, tmp_path):
    src, path = collection
    out = shots.screenshot(path, src / "green" / "02.png", tmp_path / "page.png", k=4, width=800, height=600)
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (800, 600) and im.mode == "P" and out.stat().st_size < 150_000


def test_text_collection_search_from_the_page(browser, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("the cat sat on the mat\na dog chased the cat\nstock markets fell today\nbank shares rose\n")
    col = Collection.build(
        f, tmp_path / "col", method="lsh", method_params={"backbone": "tfidf"}, bits=16, progress=False
    )
    expected = [(h.id, h.text) for h in col.search("the cat sat on the mat", k=3)]
    col.close()
    with serve(tmp_path / "col", "-k", "3") as url:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_element(By.ID, "text-form").is_displayed())
        assert not browser.find_element(By.ID, "drop").is_displayed()
        browser.find_element(By.ID, "text").send_keys("the cat sat on the mat\n")
        read = (
            "return Array.from(document.querySelectorAll('#results .result'))"
            ".map(c => [Number(c.dataset.id), c.querySelector('.text').textContent])"
        )
        wait.until(lambda d: len(d.execute_script(read)) == 3)
        assert [tuple(r) for r in browser.execute_script(read)] == expected
        assert browser.find_elements(By.CSS_SELECTOR, "#results img") == []  # texts: no thumbnails
