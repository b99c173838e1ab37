"""The page at `/` in a real browser: headless Chromium, driven by Playwright, against a real
uvicorn server on a free port, typing a text, clicking, and reading the answer shown.

Playwright drives the system's Chromium (`make chromium` installs it); its own browser download
is never used. Without either, the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.serve.app import create_app
from domaintune.serve.server import bind, url

ARTIFACTS = Path(os.environ.get("DOMAINTUNE_ARTIFACTS", Path(__file__).parents[2] / "artifacts"))


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system Chromium, for Playwright to drive; a test never installs it."""
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'"
    )
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed: run `make chromium` (needs root and apt-get)")
    return found


@contextmanager
def live_server(run: Path) -> Iterator[str]:
    """A real uvicorn server for `run` on a free loopback port, in a thread; its URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(run), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield url(sock)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def address(served_run: RunDir) -> Iterator[str]:
    with live_server(served_run.root) as found:
        yield found


@pytest.fixture
def page(chromium: str):
    """A phone-sized page of headless Chromium that records every request it makes and every
    script error or console error."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 412, "height": 915})
            page.requested = []
            page.problems = []
            page.on("request", lambda request: page.requested.append(request.url))
            page.on("pageerror", lambda error: page.problems.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    page.problems.append(message.text) if message.type == "error" else None
                ),
            )
            yield page
        finally:
            browser.close()


@pytest.mark.slow
def test_the_page_labels_a_typed_text_in_headless_chromium(
    served_run: RunDir, address: str, page
) -> None:
    """Catches a page that does not work in a real browser: a script error, a request the
    server refuses, an answer not shown, a bar per label missing, or a request sent anywhere but
    the server (the page must work offline)."""
    text = "late delayed cancelled lost bag &amp; rude crew"
    wanted = Predictor(served_run.root).decide([text]).iloc[0]

    page.goto(address + "/")
    page.wait_for_function("document.getElementById('about').textContent.includes('Labels')")
    assert page.text_content("#title") == "tickets"

    page.click("#go")  # nothing typed: the page says so, and asks nothing of the server
    assert page.text_content("#error") == "Type a text first."

    page.fill("#text", text)
    page.click("#go")
    page.wait_for_selector("#result:not([hidden])")
    label = page.text_content("#label")
    bars = page.eval_on_selector_all(
        "[role=meter]",
        "bars => bars.map(b => [b.getAttribute('aria-label'), Number(b.getAttribute('aria-valuenow'))])",
    )
    shown = page.text_content("#confidence")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-page-phone.png"), full_page=True)

    assert label == wanted["label"]
    assert [name for name, _ in bars] == ["negative", "neutral", "positive"]
    for name, value in bars:
        assert value == pytest.approx(wanted[f"p_{name}"], abs=1e-5)
    assert shown == f"confidence {100 * wanted['confidence']:.1f}%"
    assert page.problems == []
    assert page.requested and all(url.startswith(address + "/") for url in page.requested)


@pytest.mark.slow
def test_the_api_docs_render_without_internet(address: str, page) -> None:
    """Catches /docs loading Swagger UI from a CDN, as FastAPI does by default: on a machine
    without internet the page stays blank."""
    page.goto(address + "/docs")
    page.wait_for_selector("text=/predict", timeout=30_000)

    assert page.is_visible("text=Label one text or a list of texts")
    assert page.problems == []
    assert all(url.startswith(address + "/") for url in page.requested), page.requested
