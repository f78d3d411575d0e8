"""Rendering hostile model text makes no Content-Security-Policy noise.

The policy blocks what the sanitiser would let through; but the sanitiser's own
parsing must not ask for anything the policy has to block, or a site that
collects violation reports drowns in them.
"""

import pytest
from playwright.sync_api import expect

from tests.fakeupstream import Scenario
from tests.test_browser_safety import HOSTILE, chunks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MORE_HOSTILE = (
    HOSTILE + "\n\n<style>body { background: url(https://evil.example/bg.png) }</style>\n\n"
    '<link rel="stylesheet" href="https://evil.example/x.css">\n\n'
    '<p style="background:url(https://evil.example/p.png)">styled</p>\n\n'
    '<video src="https://evil.example/v.mp4" poster="https://evil.example/poster.png"></video>\n\n'
    '<object data="https://evil.example/o.swf"></object>\n\n'
    "<body onload=\"window.__pwned='body'\"><img src=/x onerror=alert(5)></body>\n\n"
    '<a href="https://example.org/raw" onmouseover="alert(6)">raw link</a>\n\n'
    "[ok link](https://example.org/ok)\n\n"
    "The end."
)

COUNT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


def test_hostile_text_renders_without_a_single_csp_violation(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=chunks(MORE_HOSTILE), delay=0.005))
    page, watched = browse(alice)
    page.evaluate(COUNT_VIOLATIONS)
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.fill("#prompt", "Write a report")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    body = answer.locator(".body")
    expect(body).to_contain_text("The end.")
    page.wait_for_timeout(300)

    assert page.evaluate("window.__violations") == []
    assert [text for text in console if "Content Security Policy" in text] == []
    assert page.evaluate("window.__pwned") is None
    assert watched.foreign_requests == []
    # The rendering still keeps the safe parts, and only the safe parts; the
    # model's own HTML reads as text.
    assert body.locator("img, style, link, video, object, [style]").count() == 0
    expect(body.locator("a.image-link", has_text="tracker")).to_have_attribute(
        "href", "https://evil.example/pixel.gif"
    )
    expect(body.get_by_role("link", name="ok link")).to_have_attribute(
        "href", "https://example.org/ok"
    )
    expect(body.get_by_role("link", name="raw link")).to_have_count(0)
    expect(body).to_contain_text('<p style="background:url(https://evil.example/p.png)">styled</p>')
