"""`cogaze serve` end to end in headless Chromium (selenium): open the page, upload an X-ray, see the draft report,
the heatmap, its legend and the disease bars; clicking a sentence puts that sentence's map on the image.

Needs Debian's ``chromium`` and ``chromium-driver`` (scripts/install.sh installs them with apt when run as root);
skipped, saying so, only where they are missing."""

import shutil
import threading
import time

import pytest

from serve_helpers import png_bytes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="headless Chromium not available: install Debian's chromium and chromium-driver "
           "(scripts/install.sh does so with apt as root)")


@pytest.fixture(scope="module")
def server(serve_runs):
    import uvicorn

    from cogaze.serve.server import build_app

    app = build_app(serve_runs["run"], serve_runs["rep"], serve_runs["data"], top_k=3)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    yield driver
    driver.quit()


def test_upload_read_and_click_a_sentence(server, browser, serve_runs, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from cogaze.data.images import read_image

    image = tmp_path / "chest.png"
    image.write_bytes(png_bytes(read_image(sorted(serve_runs["data"].rglob("*.jpg"))[0])))
    browser.get(server + "/")
    assert browser.find_element(By.ID, "results").get_attribute("hidden") is not None
    browser.find_element(By.ID, "file-input").send_keys(str(image))
    browser.find_element(By.ID, "indication").send_keys("Shortness of breath.")
    browser.find_element(By.ID, "run").click()
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#report li.sentence") or "error" in
               d.find_element(By.ID, "status").get_attribute("class"))
    assert browser.find_element(By.ID, "status").text.startswith("Done"), browser.find_element(By.ID, "status").text
    sentences = browser.find_elements(By.CSS_SELECTOR, "#report li.sentence")
    assert sentences and all(s.text.strip() for s in sentences)
    shown = browser.find_element(By.ID, "shown")
    first_map = shown.get_attribute("src")
    assert first_map.startswith("data:image/jpeg") and "active" in sentences[0].get_attribute("class")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", shown) == 64
    assert browser.find_element(By.ID, "legend").is_displayed()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#diseases .fill")) == 14
    assert len(browser.find_elements(By.CSS_SELECTOR, "#similar .case img")) == 3
    # the text-free map, then a click on a sentence: its own map replaces it
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-mode=textfree]").click()
    text_free = shown.get_attribute("src")
    assert text_free != first_map and "active" not in sentences[0].get_attribute("class")
    target = sentences[-1]
    target.click()
    assert shown.get_attribute("src") not in (text_free, "") and "active" in target.get_attribute("class")
    assert browser.find_element(By.ID, "peak").is_displayed()
    assert target.text.split("\n")[0] in browser.find_element(By.ID, "caption").text
    if len(sentences) > 1:  # another sentence, another map
        sentences[0].click()
        assert shown.get_attribute("src") == first_map


def test_a_bad_upload_shows_the_error(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    browser.get(server + "/")
    browser.find_element(By.ID, "file-input").send_keys(str(bad))
    browser.find_element(By.ID, "run").click()
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 10).until(lambda d: "error" in status.get_attribute("class"))
    assert "notes.png: not an image" in status.text
