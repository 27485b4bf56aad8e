"""The embeddable widget, the demo page and the source viewer, driven in a real (Debian) chromium.

Runs against the real app (`live_server`). A few error and edge states are produced with
`page.route` fulfilling fake responses: those tests check the widget's handling, not the server.
Screenshots of key states go to test-artifacts/widget/.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

QUESTION = "why do my hips hurt when I run"
FOLLOW_UP = "how do I stretch it?"
EMERGENCY = "I fell off my bike and now I can't put any weight on my leg and it looks turned out"
PAYLOAD = "<img src=x onerror=alert(1)>"
SELF_CARE = re.compile(r"\b(stretch\w*|foam[- ]roll\w*|ice|exercis\w*|strengthen\w*|massage|warm[- ]up)\b", re.I)
STRICT_CSP = "default-src 'self'; style-src 'self'; script-src 'self'"

# Slows an event stream down in the page (one SSE event per 40 ms) so progressive rendering is observable
# even when the real server sends the whole answer in one network chunk. Test instrumentation only.
SLOW_SSE = """
(() => {
  const orig = window.fetch;
  window.fetch = async (...args) => {
    const res = await orig(...args);
    if (!(res.headers.get('content-type') || '').includes('text/event-stream')) return res;
    const reader = res.body.getReader();
    const dec = new TextDecoder(), enc = new TextEncoder();
    let buf = '';
    const body = new ReadableStream({
      async pull(ctl) {
        const { value, done } = await reader.read();
        buf += dec.decode(value || new Uint8Array(), { stream: !done });
        const parts = buf.split(/(?<=\\n\\n)/);
        buf = done ? '' : parts.pop();
        for (const p of (done ? parts.concat(buf ? [buf] : []) : parts)) {
          ctl.enqueue(enc.encode(p));
          await new Promise((r) => setTimeout(r, 40));
        }
        if (done) ctl.close();
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
})();
"""

WATCH_STREAM = """
() => {
  window.__partial = [];
  const root = document.querySelector('stride-chat').shadowRoot;
  new MutationObserver(() => {
    const bots = root.querySelectorAll('.msg.bot');
    const last = bots[bots.length - 1];
    if (!last || last.getAttribute('aria-busy') !== 'true') return;
    const body = last.querySelector('.body');
    const n = body ? body.textContent.length : 0;
    if (n && window.__partial[window.__partial.length - 1] !== n) window.__partial.push(n);
  }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
}
"""


# ---------------------------------------------------------------- helpers

def sse(*events) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def parse_sse(text: str) -> list[tuple[str, object]]:
    out = []
    for block in re.split(r"\r?\n\r?\n", text):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


def fake_answer(answer: str, citations=(), level="none", message=None, abstained=False, id_="f" * 16) -> dict:
    return {
        "id": id_, "answer": answer, "citations": list(citations),
        "safety": {"level": level, "rules": [] if level == "none" else ["test-rule"], "message": message},
        "abstained": abstained, "disclaimer": "Stride is not a substitute for a clinician.",
    }


def fake_stream(body: dict) -> str:
    deltas = [("delta", {"text": w}) for w in re.findall(r"\S+\s*", body["answer"])]
    return sse(("safety", body["safety"]), ("citations", body["citations"]), *deltas, ("done", body))


def fulfill_sse(route, text: str) -> None:
    route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, body=text)


class ChatSpy:
    """Records the widget's /api/chat requests and responses."""

    def __init__(self, page):
        self.requests = []
        self.responses = []
        page.on("request", lambda r: self.requests.append(r) if r.url.endswith("/api/chat") else None)
        page.on("response", lambda r: self.responses.append(r) if r.url.endswith("/api/chat") else None)

    def bodies(self) -> list[dict]:
        return [r.post_data_json for r in self.requests]

    def done(self, index: int = -1) -> dict:
        events = parse_sse(self.responses[index].text())
        done = [d for name, d in events if name == "done"]
        assert done, f"no done event in {events!r}"
        return done[-1]


def launcher(page):
    return page.locator("stride-chat .launcher")


def question_box(page):
    return page.get_by_role("textbox", name="Your question")


def bots(page):
    return page.locator("stride-chat .msg.bot")


def open_widget(page, url: str) -> None:
    page.goto(url)
    launcher(page).click()
    expect(page.locator("stride-chat .panel")).to_be_visible()
    expect(question_box(page)).to_be_focused()


def ask(page, text: str, answers: int = 1) -> None:
    box = question_box(page)
    box.fill(text)
    box.press("Enter")
    expect(page.locator('stride-chat .msg.bot[aria-busy="false"]')).to_have_count(answers, timeout=20_000)


def shadow_count(page, selector: str) -> int:
    return page.evaluate("s => document.querySelector('stride-chat').shadowRoot.querySelectorAll(s).length", selector)


def run_axe(page, axe_source: str) -> list[dict]:
    page.evaluate(axe_source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:5]}" for v in violations)


def http(url: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# ---------------------------------------------------------------- the main flow

def test_streamed_answer_with_citations(page, stride_url, artifacts):
    page.add_init_script(SLOW_SSE)
    spy = ChatSpy(page)
    open_widget(page, stride_url + "/")
    page.screenshot(path=artifacts / "01-open-empty.png")
    page.evaluate(WATCH_STREAM)
    box = question_box(page)
    box.fill(QUESTION)
    box.press("Enter")
    page.wait_for_function("() => window.__partial.length >= 2", timeout=20_000)
    page.screenshot(path=artifacts / "02-streaming.png")
    expect(page.locator('stride-chat .msg.bot[aria-busy="false"]')).to_have_count(1, timeout=20_000)

    body = spy.bodies()[0]
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": QUESTION}]
    assert "text/event-stream" in spy.responses[0].headers["content-type"]
    names = [n for n, _ in parse_sse(spy.responses[0].text())]
    assert names[:2] == ["safety", "citations"] and names[-1] == "done" and "delta" in names

    partial = page.evaluate("window.__partial")
    done = spy.done()
    final_len = len(bots(page).first.locator(".body").inner_text())
    assert len(partial) >= 2 and partial[0] < final_len, f"text did not appear progressively: {partial}"

    assert not done["abstained"] and len(done["citations"]) >= 2
    cites = bots(page).first.locator(".cite")
    assert cites.count() >= 2
    ids = {int(c.text_content()) for c in cites.all()}
    assert ids <= {c["id"] for c in done["citations"]}
    assert len(ids) >= 2
    expect(bots(page).first.locator(".disclaimer")).to_have_text(done["disclaimer"])
    page.screenshot(path=artifacts / "03-answer-with-citations.png")
    assert not page.problems.page_errors and not page.problems.csp_violations


def test_footnote_opens_source_viewer_with_highlight(page, context, stride_url, artifacts):
    spy = ChatSpy(page)
    open_widget(page, stride_url + "/")
    ask(page, QUESTION)
    done = spy.done()
    first = bots(page).first.locator(".cite").first
    cid = int(first.text_content())
    citation = next(c for c in done["citations"] if c["id"] == cid)
    first.click()
    expect(first).to_have_attribute("aria-expanded", "true")
    note = bots(page).first.locator(".note").first
    expect(note).to_be_visible()
    expect(note.locator("cite")).to_have_text(citation["title"])
    expect(note.locator("blockquote")).to_contain_text(citation["quote"][:60])
    if citation["publisher"]:
        expect(note).to_contain_text(citation["publisher"])
    link = note.get_by_role("link")
    assert link.get_attribute("href") == stride_url + citation["url"]
    page.screenshot(path=artifacts / "04-footnote-open.png")

    with context.expect_page() as popup:
        link.click()
    src = popup.value
    src.wait_for_load_state()
    marks = src.locator("mark.cited")
    expect(marks.first).to_be_visible()
    expect(marks.first).to_be_in_viewport()
    marked = re.sub(r"\s+", " ", " ".join(marks.all_text_contents())).strip()
    quote = re.sub(r"\s+", " ", citation["quote"]).strip()
    assert marked == quote or quote in marked, (marked, quote)
    expect(src.locator("h1")).to_have_text(citation["title"])
    expect(src.locator("#cite-note")).to_be_visible()
    src.screenshot(path=artifacts / "05-source-viewer-highlight.png")

    # The page follows later fragment changes too, and paragraphs are preserved.
    assert src.locator("#article p").count() > 3
    src.evaluate("location.hash = '#0-1'")
    expect(src.locator("mark.cited")).to_have_count(0)


def test_emergency_shows_alert_and_no_self_care(page, stride_url, artifacts):
    spy = ChatSpy(page)
    open_widget(page, stride_url + "/")
    ask(page, EMERGENCY)
    done = spy.done()
    assert done["safety"]["level"] == "emergency"
    alert = page.locator("stride-chat [role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Emergency")
    if done["safety"]["message"]:
        expect(alert).to_contain_text(done["safety"]["message"])
    # above everything else in the panel's content
    log_box = page.locator("stride-chat .log").bounding_box()
    assert alert.bounding_box()["y"] < log_box["y"]
    msg = bots(page).first
    assert msg.locator(".cite").count() == 0
    text = msg.inner_text()
    assert not SELF_CARE.search(text), text
    assert not SELF_CARE.search(alert.inner_text())
    page.screenshot(path=artifacts / "06-emergency.png")


def test_follow_up_sends_the_conversation(page, stride_url):
    spy = ChatSpy(page)
    open_widget(page, stride_url + "/")
    ask(page, QUESTION)
    first = spy.done(0)
    page.evaluate("() => { document.querySelector('stride-chat').shadowRoot.querySelector('.msg.bot').__kept = true }")
    ask(page, FOLLOW_UP, answers=2)
    # Earlier messages are left in place (the role=log region only gains the new ones).
    assert page.evaluate("() => document.querySelector('stride-chat').shadowRoot.querySelector('.msg.bot').__kept === true")
    sent = spy.bodies()[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == QUESTION
    assert sent[1]["content"] == first["answer"]
    assert sent[2]["content"] == FOLLOW_UP
    expect(page.locator("stride-chat .msg.user")).to_have_count(2)


def test_keyboard_only(page, stride_url, artifacts):
    page.goto(stride_url + "/")
    focused = "() => { const a = document.activeElement; return a && a.shadowRoot ? 'shadow:' + (a.shadowRoot.activeElement || {}).className : (a || {}).tagName }"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "shadow:launcher":
            break
    else:
        pytest.fail("Tab never reached the widget launcher")
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    page.wait_for_timeout(700)  # let the page's smooth scroll settle before the screenshot
    page.screenshot(path=artifacts / "07-keyboard-launcher-focus.png")
    page.keyboard.press("Enter")
    expect(launcher(page)).to_have_attribute("aria-expanded", "true")
    expect(question_box(page)).to_be_focused()
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator('stride-chat .msg.bot[aria-busy="false"]')).to_have_count(1, timeout=20_000)
    # Tab reaches a citation marker and Enter opens its footnote.
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if page.evaluate(focused) == "shadow:cite":
            break
    else:
        pytest.fail("citation markers are not reachable by keyboard")
    page.keyboard.press("Enter")
    expect(bots(page).first.locator(".note")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("stride-chat .panel")).to_be_hidden()
    assert page.evaluate(focused) == "shadow:launcher"


def test_html_in_question_and_answer_is_inert(page, stride_url):
    open_widget(page, stride_url + "/")
    ask(page, f"my hip hurts {PAYLOAD} when I run")
    expect(page.locator("stride-chat .msg.user")).to_contain_text(PAYLOAD)
    # An answer, citation title and quote carrying markup must also stay text.
    evil = fake_answer(f"Answer with {PAYLOAD} markup [1]", [{
        "id": 1, "doc_id": "x", "title": "<b>Bold</b><script>alert(2)</script>", "publisher": PAYLOAD,
        "section": "", "quote": PAYLOAD, "start": 0, "end": 5, "url": "javascript:alert(3)"}])
    page.route("**/api/chat", lambda route: fulfill_sse(route, fake_stream(evil)))
    ask(page, "again", answers=2)
    msg = bots(page).nth(1)
    expect(msg.locator(".body")).to_contain_text(PAYLOAD)
    msg.locator(".cite").click()
    expect(msg.locator(".note")).to_contain_text("<b>Bold</b><script>alert(2)</script>")
    assert msg.locator(".note a").count() == 0, "a javascript: URL must not become a link"
    page.wait_for_timeout(300)
    assert shadow_count(page, "img, script, b, iframe, object") == 0
    assert page.locator("img").count() == 0
    assert page.problems.dialogs == []


def test_320px_viewport(browser, stride_url, artifacts):
    ctx = browser.new_context(viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        open_widget(page, stride_url + "/")
        panel = page.locator("stride-chat .panel").bounding_box()
        assert panel["x"] == 0 and panel["width"] == 320 and panel["height"] >= 600, panel
        ask(page, QUESTION)
        assert bots(page).first.locator(".cite").count() >= 2
        overflow = page.evaluate("() => { const l = document.querySelector('stride-chat').shadowRoot.querySelector('.log'); return l.scrollWidth - l.clientWidth }")
        assert overflow <= 0, "the message list scrolls sideways at 320 px"
        for name in ("Send question", "New conversation", "Close chat"):
            box = page.get_by_role("button", name=name).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 320, (name, box)
        page.screenshot(path=artifacts / "08-mobile-320.png")
        # Full screen: Tab cycles inside the panel instead of reaching the page hidden behind it.
        for _ in range(20):
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement && document.activeElement.tagName") == "STRIDE-CHAT"
        page.get_by_role("button", name="Close chat").click()
        expect(launcher(page)).to_be_in_viewport()
    finally:
        ctx.close()


def test_hostile_host_css_does_not_break_widget(page, stride_url, artifacts):
    hostile_css = """
      * { all: unset !important; }
      html, body { font-size: 3px !important; line-height: 0 !important; color: #0f0 !important; }
      div, section, form, button, textarea, p, ul, li { display: none !important; opacity: 0 !important; }
      stride-chat { display: none !important; transform: scale(0.1) !important; visibility: hidden !important; }
      :root { --accent: red; --bg: black; }
    """
    page_html = f"""<!doctype html><html><head><title>Hostile host</title>
      <link rel="stylesheet" href="/__test__/hostile.css">
      <script src="{stride_url}/widget.js" data-stride-api="{stride_url}" data-title="Ask about hip pain" defer></script>
      </head><body><h1>A page with awful CSS</h1><p>Some text.</p></body></html>"""
    page.route(stride_url + "/__test__/hostile.css", lambda r: r.fulfill(status=200, content_type="text/css", body=hostile_css))
    page.route(stride_url + "/__test__/hostile", lambda r: r.fulfill(
        status=200, content_type="text/html", body=page_html, headers={"Content-Security-Policy": STRICT_CSP}))
    open_widget(page, stride_url + "/__test__/hostile")
    panel = page.locator("stride-chat .panel").bounding_box()
    assert panel["width"] >= 300 and panel["height"] >= 300, panel
    font = page.evaluate("() => getComputedStyle(document.querySelector('stride-chat').shadowRoot.querySelector('textarea')).fontSize")
    assert font == "16px"
    ask(page, QUESTION)
    assert bots(page).first.locator(".cite").count() >= 2
    expect(bots(page).first.locator(".cite").first).to_be_visible()
    page.screenshot(path=artifacts / "09-hostile-host-css.png")
    assert not page.problems.csp_violations, page.problems.csp_violations


def test_strict_csp_renders_styled_widget(page, stride_url):
    """Under `default-src 'self'; style-src 'self'; script-src 'self'` the widget and pages are styled
    and nothing is refused (constructable stylesheets, no inline style or script)."""

    def strict(route):
        resp = route.fetch()
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-security-policy"}
        headers["Content-Security-Policy"] = STRICT_CSP
        route.fulfill(response=resp, headers=headers)

    page.route(stride_url + "/", strict)
    page.route(stride_url + "/sources/**", strict)
    open_widget(page, stride_url + "/")
    assert page.evaluate("() => document.querySelector('stride-chat').shadowRoot.adoptedStyleSheets.length") >= 1
    styles = page.evaluate("""() => { const l = document.querySelector('stride-chat').shadowRoot.querySelector('.launcher');
        const s = getComputedStyle(l); return [s.position, s.backgroundColor, s.borderRadius]; }""")
    assert styles[0] == "fixed" and styles[1] not in ("rgba(0, 0, 0, 0)", "transparent") and styles[2] != "0px", styles
    ask(page, QUESTION)
    assert page.evaluate("() => getComputedStyle(document.body).fontFamily") != ""  # site.css applied
    page.goto(stride_url + spy_url(page))
    expect(page.locator("mark.cited").first).to_be_visible()
    assert not page.problems.csp_violations, page.problems.csp_violations
    assert not page.problems.page_errors, page.problems.page_errors


def spy_url(page) -> str:
    """The source-viewer path of the first footnote in the first answer (opens it to read the link)."""
    msg = bots(page).first
    msg.locator(".cite").first.click()
    href = msg.locator(".note a").first.get_attribute("href")
    return re.sub(r"^https?://[^/]+", "", href)


# ---------------------------------------------------------------- accessibility

@pytest.mark.parametrize("context_options", [
    {"color_scheme": "light"},
    {"color_scheme": "dark", "reduced_motion": "reduce"},
], ids=["light", "dark"])
def test_axe_no_serious_violations(page, stride_url, axe_source, artifacts, context_options):
    scheme = context_options["color_scheme"]
    open_widget(page, stride_url + "/")
    ask(page, QUESTION)
    bots(page).first.locator(".cite").first.click()
    page.screenshot(path=artifacts / f"10-axe-{scheme}.png")
    bad = run_axe(page, axe_source)
    assert not bad, describe(bad)
    href = bots(page).first.locator(".note a").first.get_attribute("href")
    page.goto(href)
    bad = run_axe(page, axe_source)
    assert not bad, "source viewer: " + describe(bad)
    if scheme == "dark":
        bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert bg != "rgb(255, 255, 255)"
        page.goto(stride_url + "/")
        launcher(page).click()
        panel = page.locator("stride-chat .panel")
        assert panel.evaluate("e => getComputedStyle(e).animationName") == "none"  # prefers-reduced-motion
        assert panel.evaluate("e => getComputedStyle(e).backgroundColor") != "rgb(255, 255, 255)"  # dark scheme


# ---------------------------------------------------------------- failure states

ERROR_CASES = {
    "rate-limited": (lambda r: r.fulfill(status=429, headers={"Retry-After": "17", "Content-Type": "application/json"},
                                          body=json.dumps({"error": {"message": "Too many requests.", "type": "rate_limit_error", "code": None}})),
                     "17 seconds"),
    "server-error": (lambda r: r.fulfill(status=500, content_type="application/json",
                                         body=json.dumps({"error": {"message": "Internal error.", "type": "api_error", "code": None}})),
                     "problem on its side"),
    "network-down": (lambda r: r.abort("internetdisconnected"), "can\u2019t be reached"),
    "error-mid-stream": (lambda r: fulfill_sse(r, sse(("safety", {"level": "none", "rules": [], "message": None}), ("citations", []),
                                                      ("delta", {"text": "Partial "}),
                                                      ("error", {"error": {"message": "boom", "type": "api_error"}}))),
                         "ran into a problem"),
    "stream-cut": (lambda r: fulfill_sse(r, sse(("safety", {"level": "none", "rules": [], "message": None}), ("citations", []),
                                                ("delta", {"text": "Half an ans"}))),
                   "cut off"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_states_are_friendly_and_retry_works(page, stride_url, artifacts, case):
    handler, expected = ERROR_CASES[case]
    open_widget(page, stride_url + "/")
    page.route("**/api/chat", handler)
    box = question_box(page)
    box.fill(QUESTION)
    box.press("Enter")
    err = page.locator("stride-chat .msg.err")
    expect(err).to_contain_text(expected)
    retry = err.get_by_role("button", name="Try again")
    expect(retry).to_be_visible()
    expect(page.get_by_role("button", name="Send question")).to_be_visible()  # not stuck "busy"
    assert bots(page).count() == 0, "no half answer or spinner left behind"
    if case in ("rate-limited", "server-error"):
        page.screenshot(path=artifacts / f"11-error-{case}.png")
    page.unroute("**/api/chat")
    retry.click()
    expect(page.locator('stride-chat .msg.bot[aria-busy="false"]')).to_have_count(1, timeout=20_000)
    expect(err).to_have_count(0)
    assert bots(page).first.locator(".cite").count() >= 2


def test_abstention_and_safety_levels_render_distinctly(page, stride_url, artifacts):
    replies = [
        fake_answer("Sorry, Stride's articles don't cover that. I can help with hip pain when running.", abstained=True, id_="a1"),
        fake_answer("Rest can help. [1]", [{"id": 1, "doc_id": "d", "title": "T", "publisher": "P", "section": "", "quote": "Rest can help.",
                                            "start": 0, "end": 14, "url": "/sources/d#0-14"}],
                    level="urgent", message="Pain with a fever needs a doctor today.", id_="a2"),
        fake_answer("Rest can help. [1]", [{"id": 1, "doc_id": "d", "title": "T", "publisher": "P", "section": "", "quote": "Rest can help.",
                                            "start": 0, "end": 14, "url": "/sources/d#0-14"}],
                    level="see_doctor", message="If it lasts more than two weeks, see a physiotherapist.", id_="a3"),
    ]
    page.route("**/api/chat", lambda route: fulfill_sse(route, fake_stream(replies.pop(0))))
    open_widget(page, stride_url + "/")
    ask(page, "what's the best pizza before a race?")
    first = bots(page).nth(0)
    expect(first).to_have_class(re.compile(r"\babstained\b"))
    assert first.locator(".cite").count() == 0
    ask(page, "hip pain and a fever", answers=2)
    expect(bots(page).nth(1).locator(".safety-urgent")).to_contain_text("Urgent")
    ask(page, "hip pain for three weeks", answers=3)
    expect(bots(page).nth(2).locator(".safety-see_doctor")).to_contain_text("See a doctor")
    assert page.locator("stride-chat [role=alert] *").count() == 0, "only emergencies use role=alert"
    bg = [bots(page).nth(i).locator(".safety").evaluate("e => getComputedStyle(e).backgroundColor") for i in (1, 2)]
    assert bg[0] != bg[1]
    page.screenshot(path=artifacts / "12-abstain-urgent-see-doctor.png")


def test_feedback_thumbs(page, stride_url):
    spy = ChatSpy(page)
    open_widget(page, stride_url + "/")
    ask(page, QUESTION)
    answer_id = spy.done()["id"]
    up = bots(page).first.get_by_role("button", name="Helpful", exact=True)
    with page.expect_response("**/api/feedback") as resp:
        up.click()
    assert resp.value.status == 202
    assert resp.value.request.post_data_json == {"message_id": answer_id, "rating": "up"}
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(bots(page).first.locator(".fbstatus")).to_have_text("Thanks for your feedback.")
    down = bots(page).first.get_by_role("button", name="Not helpful")
    down.click()
    comment = bots(page).first.get_by_role("textbox", name=re.compile("What was wrong"))
    expect(comment).to_be_focused()
    comment.fill("Too short")
    with page.expect_request("**/api/feedback") as req:
        bots(page).first.get_by_role("button", name="Send feedback").click()
    assert req.value.post_data_json == {"message_id": answer_id, "rating": "down", "comment": "Too short"}
    expect(up).to_have_attribute("aria-pressed", "false")


def test_stop_history_and_new_conversation(page, stride_url):
    open_widget(page, stride_url + "/")
    ask(page, QUESTION)
    # History survives navigation within the tab (sessionStorage).
    page.reload()
    expect(page.locator("stride-chat .panel")).to_be_visible()
    expect(page.locator("stride-chat .msg.user")).to_have_text(re.compile(QUESTION))
    assert bots(page).first.locator(".cite").count() >= 2
    # Stop: the request hangs, the user stops it, the widget is usable again.
    page.route("**/api/chat", lambda route: None)
    question_box(page).fill(FOLLOW_UP)
    question_box(page).press("Enter")
    stop = page.get_by_role("button", name="Stop answering")
    expect(stop).to_be_visible()
    expect(bots(page).nth(1)).to_contain_text("Looking through the articles")
    stop.click()
    expect(page.locator("stride-chat .msg.err")).to_contain_text("You stopped the answer.")
    expect(page.get_by_role("button", name="Send question")).to_be_visible()
    page.unroute("**/api/chat")
    # New conversation empties the panel and the stored history.
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("stride-chat .msg")).to_have_count(0)
    expect(page.locator("stride-chat .intro")).to_be_visible()
    expect(question_box(page)).to_be_focused()
    stored = page.evaluate("() => Object.keys(sessionStorage).filter(k => k.startsWith('stride-chat')).map(k => JSON.parse(sessionStorage[k]).msgs.length)")
    assert stored == [0]


def test_embedding_options_inline_accent_position(page, stride_url, artifacts):
    inline_html = f"""<!doctype html><html lang="en"><head><title>Inline</title>
      <script src="{stride_url}/widget.js" data-stride-api="{stride_url}" data-title="Hip pain help"
        data-target="#chat-here" data-accent="#ffcc00" defer></script></head>
      <body><main><h1>Inline embed</h1><div id="chat-here"></div></main></body></html>"""
    left_html = f"""<!doctype html><html lang="en"><head><title>Left</title>
      <script src="{stride_url}/widget.js" data-stride-api="{stride_url}" data-position="bottom-left" data-open="true" defer></script>
      </head><body><main><h1>Left</h1></main></body></html>"""
    def serve(body):
        return lambda route: route.fulfill(status=200, content_type="text/html", body=body,
                                           headers={"Content-Security-Policy": STRICT_CSP})

    page.route(f"{stride_url}/__test__/inline", serve(inline_html))
    page.route(f"{stride_url}/__test__/left", serve(left_html))
    page.goto(stride_url + "/__test__/inline")
    assert page.locator("#chat-here stride-chat").count() == 1
    expect(page.locator("stride-chat .panel")).to_be_visible()
    assert launcher(page).count() == 0
    expect(page.locator("stride-chat h2")).to_have_text("Hip pain help")
    header = page.evaluate("() => { const s = getComputedStyle(document.querySelector('stride-chat').shadowRoot.querySelector('header')); return [s.backgroundColor, s.color] }")
    assert header == ["rgb(255, 204, 0)", "rgb(17, 17, 17)"], header  # dark text on a light accent
    ask(page, QUESTION)
    page.keyboard.press("Escape")
    expect(page.locator("stride-chat .panel")).to_be_visible()  # inline panels don't close
    page.screenshot(path=artifacts / "13-inline-embed.png")

    page.goto(stride_url + "/__test__/left")
    expect(page.locator("stride-chat .panel")).to_be_visible()  # open by default
    assert launcher(page).bounding_box()["x"] < 100
    assert page.locator("stride-chat .panel").bounding_box()["x"] < 100
    assert not page.problems.csp_violations, page.problems.csp_violations


# ---------------------------------------------------------------- HTTP details of the pages

def test_widget_js_caching_and_size(stride_url):
    import gzip

    status, headers, body = http(stride_url + "/widget.js")
    h = {k.lower(): v for k, v in headers.items()}
    assert status == 200 and "javascript" in h["content-type"]
    assert h.get("etag") and "max-age" in h.get("cache-control", "")
    assert len(gzip.compress(body, 9)) <= 20 * 1024
    status, _, _ = http(stride_url + "/widget.js", {"If-None-Match": h["etag"]})
    assert status == 304
    _, _, demo = http(stride_url + "/")
    versioned = re.search(rb'src="(/widget\.js\?v=[0-9a-f]+)"', demo).group(1).decode()
    _, vh, _ = http(stride_url + versioned)
    assert "immutable" in {k.lower(): v for k, v in vh.items()}["cache-control"]


def test_unknown_source_is_404(stride_url):
    status, headers, body = http(stride_url + "/sources/999_nope", {"Accept": "application/json"})
    assert status == 404 and json.loads(body)["error"]["message"]
    status, headers, body = http(stride_url + "/sources/999_nope", {"Accept": "text/html"})
    assert status == 404 and b"<h1>Not found</h1>" in body
    status, _, _ = http(stride_url + "/static/../service/app.py")
    assert status == 404


def test_source_viewer_offsets_for_every_document(page, stride_url):
    """Spans late in each article (after any emoji, whose UTF-16 length differs from Python's) highlight exactly."""
    status, _, body = http(stride_url + "/api/documents")
    assert status == 200
    docs = json.loads(body)
    assert len(docs) >= 5
    for info in docs:
        _, _, raw = http(f"{stride_url}/api/documents/{info['doc_id']}")
        text = json.loads(raw)["text"]
        # the last sentence of the last long paragraph
        paras = [m for m in re.finditer(r"[^\n]{80,}", text)]
        last = paras[-1]
        sentence = re.search(r"[^.!?]+[.!?]?\s*$", last.group(0).rstrip())
        start = last.start() + sentence.start() + (len(sentence.group(0)) - len(sentence.group(0).lstrip()))
        end = last.start() + len(last.group(0).rstrip())
        page.goto(f"{stride_url}/sources/{info['doc_id']}#{start}-{end}")
        marks = page.locator("mark.cited")
        expect(marks.first).to_be_in_viewport()
        assert "".join(marks.all_text_contents()) == text[start:end], info["doc_id"]
        expect(page.locator("h1")).to_have_text(info["title"])


def test_cross_origin_embed_with_strict_host_csp(page, request, artifacts):
    """A club site on another origin embeds the widget with one tag: CORS, the exposed Retry-After
    header and the cross-origin script all work under the host's own strict CSP."""
    if os.environ.get("STRIDE_TEST_BASE_URL"):
        pytest.skip("needs a server started with its own allow-list (server_factory)")
    try:
        factory = request.getfixturevalue("server_factory")
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py provides no server_factory")
    # The "club site" is served by page.route on another loopback origin. Chromium guards loopback
    # resources from other sites (Local Network Access): in production both sites are public; here the
    # test grants the club page that permission, as a visitor's browser would not need to.
    club = "http://localhost:8999"
    page.context.grant_permissions(["local-network-access"], origin=club)
    api = factory("widget_cross_origin", STRIDE_ALLOWED_ORIGINS=club, STRIDE_RATE_LIMIT="1/minute").url
    host_csp = f"default-src 'self'; script-src 'self' {api}; connect-src {api}; style-src 'self'; img-src 'self'"
    html = f"""<!doctype html><html lang="en"><head><title>Club</title>
      <script src="{api}/widget.js" data-stride-api="{api}" data-title="Ask about hip pain" defer></script>
      </head><body><main><h1>Another club's site</h1></main></body></html>"""
    page.route(club + "/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=html, headers={"Content-Security-Policy": host_csp}))
    open_widget(page, club + "/news")
    ask(page, QUESTION)
    msg = bots(page).first
    assert msg.locator(".cite").count() >= 2
    msg.locator(".cite").first.click()
    assert msg.locator(".note a").first.get_attribute("href").startswith(api + "/sources/")
    # The second question within the minute is rate limited: the wait comes from Retry-After.
    question_box(page).fill(FOLLOW_UP)
    question_box(page).press("Enter")
    expect(page.locator("stride-chat .msg.err")).to_contain_text(re.compile(r"wait (\d+ (seconds|minutes)|a second)"))
    page.screenshot(path=artifacts / "14-cross-origin-rate-limited.png")
    assert not page.problems.csp_violations, page.problems.csp_violations
