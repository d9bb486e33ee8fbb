"""The chat page in a real browser: Debian's chromium, headless, driven by
Playwright (never a downloaded browser), against the example app and the local
executor on 127.0.0.1."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentkit_inngest.errors import FatalProviderError
from agentkit_inngest.messages import TextMessage
from agentkit_inngest.testing import LocalExecutor, ModelCall
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

ARTIFACTS = ROOT / "tests" / ".artifacts"  # screenshots of each run (git-ignored)
HOSTILE = (
    '**Bold** claim with `code`. <img src=x onerror="window.__pwned = 1"> '
    "<script>window.__pwned = 2</script>\n\n"
    "- [click me](javascript:window.__pwned=3)\n"
    "- [the docs](https://example.com/docs)\n\n"
    "[data link](data:text/html,<script>window.__pwned=4</script>)"
)

# records what each agent's text shows, in order, each time the page renders it
WATCH_TEXT = """
window.__shown = [];
new MutationObserver((records) => {
  for (const record of records) {
    const agent = record.target.closest && record.target.closest(".agent");
    if (!agent || !record.target.classList.contains("steps")) continue;
    const texts = [...agent.querySelectorAll(".agent-text")].map((n) => n.textContent);
    const shown = [agent.dataset.call, texts.join("|")];
    const last = window.__shown[window.__shown.length - 1];
    if (!last || last[0] !== shown[0] || last[1] !== shown[1]) window.__shown.push(shown);
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


class Chat:
    """The example app under the local executor, and switches the tests flip."""

    def __init__(self) -> None:
        self.url = ""
        self.app: Any = None
        self.gate = asyncio.Event()  # questions with "slowly" wait for it in the Advisor

    async def respond(self, call: ModelCall) -> Any:
        asked = [
            m.content for m in call.messages if isinstance(m, TextMessage) and m.role == "user"
        ]
        question = asked[-1] if asked else ""
        if "explode" in question:
            return FatalProviderError("HTTP 400: the forecast service exploded", provider="test")
        if "markdown" in question:
            return HOSTILE
        if "slowly" in question and call.system.startswith("You are the advisor"):
            await self.gate.wait()
        return ui._offline(call)

    def calls(self, agent: str) -> list[ModelCall]:
        return list(self.app.state.network.agent(agent).model.calls)


@pytest.fixture
async def chat() -> AsyncIterator[Chat]:
    _need_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    state = Chat()
    # a small pause between words, so the page really receives the text in pieces
    model = ui.TypingModel(state.respond, delay=0.01)
    async with LocalExecutor() as executor:
        state.app = ui.build_app(client=executor.client("agentkit-ui"), model=model)
        url = await executor.attach(state.app)
        state.url = url.removesuffix("/api/inngest") + "/"
        yield state


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Any, url: str, **options: Any) -> tuple[Any, list[str]]:
    """A fresh page (its own localStorage) on the chat, live; and the errors it logs."""
    from playwright.async_api import expect

    context = await browser.new_context(**options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    await page.goto(url)
    await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    await expect(page.locator("#question")).to_be_enabled()
    return page, errors


async def ask(page: Any, question: str, *, runs: int) -> None:
    """Ask, and wait until the page shows ``runs`` finished runs."""
    from playwright.async_api import expect

    await page.fill("#question", question)
    await page.click("#send")
    await expect(page.locator(".run.ended")).to_have_count(runs, timeout=WAIT_MS)
    await expect(page.locator("#question")).to_be_enabled(timeout=WAIT_MS)


async def test_the_chat_page_streams_the_answer_and_its_tool_call(chat: Chat, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser, chat.url)
    await page.evaluate(WATCH_TEXT)

    await page.fill("#question", "What should I wear in Oslo tomorrow?")
    await page.click("#send")
    await expect(page.locator(".question-text")).to_have_text(
        "What should I wear in Oslo tomorrow?"
    )
    tool = page.locator(".tool-call")
    await expect(tool.locator(".tool-name")).to_have_text("get_forecast", timeout=WAIT_MS)
    await expect(tool.locator(".tool-args")).to_have_text('{"city":"Oslo"}')
    await expect(tool.locator(".tool-result")).to_contain_text('"sky": "sleet"')
    # the tool's own typed event, shown under the Forecaster
    card = page.locator(".agent").first.locator(".custom-event")
    await expect(card.locator(".custom-topic")).to_have_text("forecast")
    await expect(card.locator(".custom-data")).to_contain_text('"city":"Oslo"')
    agents = page.locator(".agent")
    await expect(agents.locator(".agent-state")).to_have_text(["done", "done"], timeout=WAIT_MS)
    await expect(agents.locator(".agent-name")).to_have_text(["Forecaster", "Advisor"])
    await expect(agents.nth(1).locator(".agent-text")).to_have_text(ANSWER)
    # the final answer is shown once: the Advisor's text, marked as the answer
    await expect(page.locator(".agent.answer .agent-name")).to_have_text("Advisor")
    assert (await page.locator("#log").inner_text()).count(ANSWER) == 1
    await expect(page.locator(".answer-box")).to_be_hidden()
    # tokens and the estimated cost (the offline model is priced at nothing)
    await expect(page.locator(".usage-total")).to_have_text(
        "Run total: 30 tokens in, 15 out · ~$0.0000"
    )
    await expect(agents.nth(0).locator(".usage")).to_have_text("20 tokens in, 10 out · ~$0.0000")
    await expect(page.locator("#question")).to_be_enabled()

    # the Advisor's text grew word by word, one rendering per delta
    shown: list[list[str]] = await page.evaluate("window.__shown")
    pieces = text_pieces(ANSWER)
    growing = ["".join(pieces[: n + 1]) for n in range(len(pieces))]
    assert [text for call, text in shown if call == "Advisor#1"] == growing
    await page.screenshot(path=ARTIFACTS / "chat-answer.png")  # docs/img/chat-page.png

    # a run that fails says so, and the page takes the next question
    await page.fill("#question", "Will it explode?")
    await page.click("#send")
    failure = page.locator(".run").nth(1).locator(".error")
    await expect(failure).to_contain_text("The run failed", timeout=WAIT_MS)
    await expect(failure).to_contain_text("the forecast service exploded")
    await expect(page.locator(".run").nth(1).locator(".agent.failed .agent-state")).to_have_text(
        "failed"
    )
    await expect(page.locator("#question")).to_be_enabled()
    await page.screenshot(path=ARTIFACTS / "chat-desktop.png", full_page=True)
    assert errors == []


async def test_the_page_follows_the_newest_event_unless_scrolled_up(
    chat: Chat, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser, chat.url, viewport={"width": 800, "height": 600})
    for count, city in enumerate(("Oslo", "Tokyo", "Lisbon"), 1):
        await ask(page, f"What should I wear in {city} tomorrow?", runs=count)
        # the newest answer is in view, however long the page has grown
        await expect(page.locator(".agent.answer").last).to_be_in_viewport()
        await expect(page.locator("#jump")).to_be_hidden()
    assert await page.evaluate("document.scrollingElement.scrollHeight") > 900  # 600 px tall

    # scrolled up while a run goes on: the page stays where the reader is
    chat.gate.clear()
    await page.fill("#question", "What should I wear in Nairobi tomorrow, slowly?")
    await page.click("#send")
    await expect(page.locator(".tool-call").last).to_contain_text("Nairobi", timeout=WAIT_MS)
    await page.evaluate("window.scrollTo(0, 0)")
    assert await page.evaluate("window.scrollY") == 0
    chat.gate.set()
    await expect(page.locator(".run.ended")).to_have_count(4, timeout=WAIT_MS)
    await expect(page.locator("#jump")).to_be_visible()
    assert await page.evaluate("window.scrollY") == 0
    await expect(page.locator(".agent.answer").last).not_to_be_in_viewport()
    await page.click("#jump")
    await expect(page.locator(".agent.answer").last).to_be_in_viewport()
    await expect(page.locator("#jump")).to_be_hidden()
    assert errors == []


async def test_a_reload_restores_the_conversation_and_a_run_going_on(
    chat: Chat, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser, chat.url)
    await ask(page, "What should I wear in Oslo tomorrow?", runs=1)
    thread = await page.evaluate("localStorage.getItem('agentkit-thread')")

    await page.reload()
    await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    assert await page.evaluate("localStorage.getItem('agentkit-thread')") == thread
    restored = page.locator(".turn.restored")
    await expect(restored).to_have_count(1)
    await expect(restored.locator(".question-text")).to_have_text(
        "What should I wear in Oslo tomorrow?"
    )
    await expect(restored.locator(".tool-name")).to_have_text("get_forecast")
    await expect(restored.locator(".agent-text").last).to_have_text(ANSWER)
    await expect(page.locator("#examples")).to_be_hidden()

    # the next question continues the thread: the Forecaster hears both
    await ask(page, "And in Tokyo tomorrow?", runs=2)
    heard = [
        m.content
        for m in chat.calls("Forecaster")[-2].messages
        if isinstance(m, TextMessage) and m.role == "user"
    ]
    assert heard == ["What should I wear in Oslo tomorrow?", "And in Tokyo tomorrow?"]

    # reloaded while a run goes on: it shows again from its start, once
    chat.gate.clear()
    await page.fill("#question", "Lisbon tomorrow, slowly?")
    await page.click("#send")
    await expect(page.locator(".tool-call").last).to_contain_text("Lisbon", timeout=WAIT_MS)
    await page.reload()
    await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    chat.gate.set()
    await expect(page.locator(".run:not(.ended)")).to_have_count(0, timeout=WAIT_MS)
    await expect(page.locator(".agent.answer")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator(".question-text")).to_have_text(
        [
            "What should I wear in Oslo tomorrow?",
            "And in Tokyo tomorrow?",
            "Lisbon tomorrow, slowly?",
        ]
    )
    last = page.locator(".turn").last
    await expect(last.locator(".agent-name")).to_have_text(["Forecaster", "Advisor"])
    await expect(last.locator(".agent.answer")).to_contain_text("Tomorrow in Lisbon: 22°C")
    assert errors == []


async def test_model_markdown_is_rendered_without_running_its_html(
    chat: Chat, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser, chat.url)
    await ask(page, "Answer in markdown please", runs=1)
    for scope in ("live", "restored"):
        answer = page.locator(".agent-text").last
        await expect(answer.locator("strong")).to_have_text("Bold")
        await expect(answer.locator("code")).to_have_text("code")
        await expect(answer.locator("li")).to_have_count(2)
        # the HTML the model wrote is text on the page, not elements
        await expect(answer).to_contain_text('<img src=x onerror="window.__pwned = 1">')
        await expect(answer).to_contain_text("<script>window.__pwned = 2</script>")
        assert await page.locator("#log img, #log script, #log iframe").count() == 0
        # only the https link is a link; javascript: and data: ones stay text
        links = answer.locator("a")
        await expect(links).to_have_count(1)
        await expect(links).to_have_attribute("href", "https://example.com/docs")
        await expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
        await expect(answer).to_contain_text("[click me](javascript:window.__pwned=3)")
        await answer.get_by_text("click me").click()
        assert await page.evaluate("window.__pwned") is None
        await page.screenshot(path=ARTIFACTS / f"chat-markdown-{scope}.png", full_page=True)
        if scope == "live":
            await page.reload()
            await expect(page.locator(".turn.restored")).to_have_count(1, timeout=WAIT_MS)
    assert errors == []


async def test_a_phone_sized_page(chat: Chat, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(
        browser, chat.url, viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    header = await page.locator("header").bounding_box()
    assert header is not None and header["height"] < 100  # was ~400 of 844 px
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    # an empty page suggests questions; one tap asks
    choices = page.locator("#examples button")
    await expect(choices).to_have_count(3)
    await page.screenshot(path=ARTIFACTS / "chat-phone-empty.png")
    await choices.first.click()
    await expect(page.locator("#examples")).to_be_hidden()
    await expect(page.locator(".run.ended")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator(".agent.answer")).to_contain_text("Have a good day!")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=ARTIFACTS / "chat-phone.png")

    # a new conversation: a new thread, an empty page
    thread = await page.evaluate("localStorage.getItem('agentkit-thread')")
    await page.click("#new-chat")
    await expect(page.locator(".turn")).to_have_count(0)
    await expect(choices).to_have_count(3)
    assert await page.evaluate("localStorage.getItem('agentkit-thread')") != thread
    await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    await ask(page, "Tokyo tomorrow?", runs=1)
    heard = [
        m.content
        for m in chat.calls("Forecaster")[-2].messages
        if isinstance(m, TextMessage) and m.role == "user"
    ]
    assert heard == ["Tokyo tomorrow?"]
    assert errors == []


async def test_sending_shows_at_once_and_a_failed_send_says_why(chat: Chat, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser, chat.url)
    # a blank question is not sent, and the page says so
    await page.fill("#question", "   ")
    await page.click("#send")
    await expect(page.locator("#hint")).to_have_text("Type a question first.")
    await expect(page.locator(".turn")).to_have_count(0)

    # "sending…" shows while the request is still on its way
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        held.set()
        await release.wait()
        await route.continue_()

    await page.route("**/chat", hold)
    await page.fill("#question", "Oslo tomorrow?")
    await page.click("#send")
    await expect(page.locator("#hint")).to_be_hidden()
    await asyncio.wait_for(held.wait(), WAIT_MS / 1000)
    await expect(page.locator(".send-state")).to_have_text("sending…")
    await expect(page.locator("#question")).to_be_disabled()
    release.set()
    await expect(page.locator(".run.ended")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator(".send-state")).to_have_text("")
    await page.unroute("**/chat")

    # a send the server refuses says why at once, and keeps the question to retry
    async def refuse(route: Any) -> None:
        await route.fulfill(
            status=502, json={"detail": "could not send the event to Inngest (test)"}
        )

    await page.route("**/chat", refuse)
    await page.fill("#question", "Tokyo tomorrow?")
    await page.click("#send")
    failed = page.locator(".turn.failed")
    await expect(failed.locator(".send-state")).to_have_text("not sent")
    await expect(failed.locator(".error")).to_have_text(
        "Could not send your question: HTTP 502: could not send the event to Inngest (test)"
    )
    await expect(page.locator("#question")).to_have_value("Tokyo tomorrow?")
    await expect(page.locator("#question")).to_be_enabled()
    await page.unroute("**/chat")
    await page.click("#send")  # the retry goes through
    await expect(page.locator(".run.ended")).to_have_count(2, timeout=WAIT_MS)
    # the browser logs the refused request itself; the page raised nothing
    assert errors == [
        "Failed to load resource: the server responded with a status of 502 (Bad Gateway)"
    ]


# what markdown.js may produce: these elements, these attributes, http(s)/mailto links
ALLOWED = {
    "P", "BR", "STRONG", "EM", "DEL", "CODE", "PRE", "A", "UL", "OL", "LI", "BLOCKQUOTE",
    "HR", "H3", "H4", "H5", "H6",
}  # fmt: skip
AUDIT = """
(texts) => texts.map((text) => {
  const box = document.createElement("div");
  renderMarkdown(box, text);
  const bad = [];
  for (const node of box.querySelectorAll("*")) {
    for (const attribute of node.attributes) {
      const ok = (node.tagName === "A" && ["href", "target", "rel"].includes(attribute.name))
        || (node.tagName === "CODE" && attribute.name === "data-language")
        || (node.tagName === "OL" && attribute.name === "start");
      if (!ok) bad.push(`${node.tagName}[${attribute.name}]`);
    }
    if (node.tagName === "A" && !/^(https?:|mailto:)/.test(node.href)) bad.push(node.href);
  }
  return {tags: [...new Set([...box.querySelectorAll("*")].map((n) => n.tagName))], bad,
          text: box.textContent, html: box.innerHTML};
})
"""
CASES = {
    "# Title\n\nSome *em*, __strong__, ~~gone~~ and snake_case_name.": (
        "<h3>Title</h3><p>Some <em>em</em>, <strong>strong</strong>, <del>gone</del> and "
        "snake_case_name.</p>"
    ),
    "```python\nprint('<b>')\n\nx = 1\n```": (
        "<pre><code data-language=\"python\">print('&lt;b&gt;')\n\nx = 1</code></pre>"
    ),
    "1. one\n2. two\n   - nested\n\n3. three": (
        "<ol><li>one</li><li><p>two</p><ul><li>nested</li></ul></li><li>three</li></ol>"
    ),
    "> quoted **bold**\n\n---\nsee https://example.com/a?b=1.": (
        "<blockquote><p>quoted <strong>bold</strong></p></blockquote><hr><p>see "
        '<a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer nofollow">'
        "https://example.com/a?b=1</a>.</p>"
    ),
    "[x](JaVaScRiPt:alert(1)) [y](java\tscript:alert(1)) [z](mailto:a@b.c)": (
        "<p>[x](JaVaScRiPt:alert(1)) [y](java\tscript:alert(1)) "
        '<a href="mailto:a@b.c" target="_blank" rel="noopener noreferrer nofollow">z</a></p>'
    ),
    "line one\nline two": "<p>line one<br>line two</p>",
}


async def test_the_markdown_renderer_makes_only_safe_elements(chat: Chat, browser: Any) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    page, errors = await open_page(browser, chat.url)
    results = await page.evaluate(AUDIT, list(CASES))
    assert [r["html"] for r in results] == list(CASES.values())

    # hostile text: HTML, entity and link fragments, control characters, NUL
    pieces = st.sampled_from(
        [
            "<", ">", "</", "/>", '"', "'", "&", "&lt;", "&#60;", "*", "**", "_", "__", "`",
            "```", "~~", "[", "](", ")", "(", "\n", "\n\n", "- ", "1. ", "> ", "# ", " ",
            "script", "img src=x onerror=alert(1)", "javascript:", "JAVASCRIPT:", "data:",
            "vbscript:", "https://e.com/", "mailto:", "\x00", "\t", "\u2028", "é", "🙂",
        ]
    )  # fmt: skip
    texts: list[str] = []

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(pieces, max_size=40).map("".join))
    def collect(text: str) -> None:
        texts.append(text)

    collect()
    audited = await page.evaluate(AUDIT, texts)
    for text, result in zip(texts, audited, strict=True):
        assert set(result["tags"]) <= ALLOWED, (text, result)
        assert result["bad"] == [], (text, result)
    assert errors == []
