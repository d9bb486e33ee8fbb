"""The chat page in a real browser: Debian's chromium, headless, driven by
Playwright (never a downloaded browser), against the example app and the local
executor on 127.0.0.1."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentkit_inngest.errors import FatalProviderError
from agentkit_inngest.messages import TextMessage
from agentkit_inngest.testing import ModelCall
from agentkit_inngest.testing.executor import LocalExecutor
from agentkit_inngest.testing.models import text_pieces

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
ui = importlib.import_module("examples.ui.app")

CHROMIUM = Path(os.environ.get("AGENTKIT_CHROMIUM", "/usr/bin/chromium"))
# what this machine's chromium needs: no sandbox as root, and no background
# connections (the network is closed); Playwright adds --headless and a fresh
# --user-data-dir of its own
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # a bound on waits for what must appear, never a pause
ANSWER = (
    "Tomorrow in Oslo: 4°C, sleet, 80% chance of rain. "
    "Wear a warm coat, gloves and a hat, and take an umbrella. Have a good day!"
)

pytestmark = pytest.mark.browser

# records each text the agents' paragraphs show, in order, as the page renders it
WATCH_TEXT = """
window.__shown = [];
new MutationObserver((records) => {
  for (const record of records) {
    if (record.target.classList && record.target.classList.contains("agent-text")) {
      const call = record.target.closest(".agent").dataset.call;
      for (const node of record.addedNodes) window.__shown.push([call, node.textContent]);
    }
  }
}).observe(document.getElementById("log"), {childList: true, subtree: true});
"""


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; .ci/run installs it")
    pytest.skip(reason)


def _respond(call: ModelCall) -> Any:
    asked = [m.content for m in call.messages if isinstance(m, TextMessage) and m.role == "user"]
    if asked and "explode" in asked[-1]:
        return FatalProviderError("HTTP 400: the forecast service exploded", provider="test")
    return ui._offline(call)


@pytest.fixture
async def chat_url() -> AsyncIterator[str]:
    _need_chromium()
    # a small pause between words, so the page really receives the text in pieces
    model = ui.TypingModel(_respond, delay=0.01)
    async with LocalExecutor() as executor:
        app = ui.build_app(client=executor.client("agentkit-ui"), model=model)
        url = await executor.attach(app)
        yield url.removesuffix("/api/inngest") + "/"


async def test_the_chat_page_streams_the_answer_and_its_tool_call(chat_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            await page.goto(chat_url)
            await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
            await expect(page.locator("#question")).to_be_enabled()
            await page.evaluate(WATCH_TEXT)

            await page.fill("#question", "What should I wear in Oslo tomorrow?")
            await page.click("#send")
            await expect(page.locator(".question")).to_have_text(
                "What should I wear in Oslo tomorrow?"
            )
            tool = page.locator(".tool-call")
            await expect(tool.locator(".tool-name")).to_have_text("get_forecast", timeout=WAIT_MS)
            await expect(tool.locator(".tool-args")).to_have_text('{"city":"Oslo"}')
            await expect(tool.locator(".tool-result")).to_contain_text('"sky": "sleet"')
            await expect(page.locator(".final-answer")).to_have_text(ANSWER, timeout=WAIT_MS)
            agents = page.locator(".agent")
            await expect(agents.locator(".agent-name")).to_have_text(["Forecaster", "Advisor"])
            await expect(agents.locator(".agent-state")).to_have_text(["done", "done"])
            await expect(agents.nth(1).locator(".agent-text")).to_have_text(ANSWER)
            await expect(page.locator(".usage-total")).to_have_text(
                "Run total: 30 tokens in, 15 out"
            )
            await expect(page.locator("#question")).to_be_enabled()

            # the Advisor's text grew word by word, one rendering per delta
            shown: list[list[str]] = await page.evaluate("window.__shown")
            pieces = text_pieces(ANSWER)
            growing = ["".join(pieces[: n + 1]) for n in range(len(pieces))]
            assert [text for call, text in shown if call == "Advisor#1"] == growing

            # a run that fails says so, and the page takes the next question
            await page.fill("#question", "Will it explode?")
            await page.click("#send")
            failure = page.locator(".run").nth(1).locator(".error")
            await expect(failure).to_contain_text("The run failed", timeout=WAIT_MS)
            await expect(failure).to_contain_text("the forecast service exploded")
            await expect(page.locator("#question")).to_be_enabled()
            assert errors == []
        finally:
            await browser.close()
