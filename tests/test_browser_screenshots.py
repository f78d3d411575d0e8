"""Screenshots of the main states, desktop and phone, light and dark.

They land in test-artifacts/screenshots/ on every run; the README shows a few.
Each also checks the state it shows, so a broken page fails here too.
"""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Persona
from tests.browser import PHONE
from tests.browser import screenshot as save
from tests.fakeupstream import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RICH_ANSWER = """## Three ways to reverse a list in Python

1. **Slicing** makes a copy: `items[::-1]`
2. `reversed()` gives an iterator, handy in loops
3. `list.reverse()` works in place

```python
numbers = [1, 2, 3, 4]
print(numbers[::-1])      # [4, 3, 2, 1]
numbers.reverse()         # numbers is now reversed
```

| Way | Copies? | Returns |
|---|---|---|
| `[::-1]` | yes | a new list |
| `reversed()` | no | an iterator |
| `.reverse()` | no | `None` |

See the [documentation](https://docs.python.org/3/tutorial/datastructures.html) for more."""


def rich_tokens() -> list[str]:
    return [RICH_ANSWER[i : i + 6] for i in range(0, len(RICH_ANSWER), 6)]


@pytest.fixture
def gallery(alice, upstream_model):
    persona = Persona.objects.create(
        owner=alice,
        name="Python tutor",
        avatar="🐍",
        description="Patient explanations with runnable examples.",
        system_prompt="You teach Python.",
        model=upstream_model,
        starter_prompts=[
            "Explain list comprehensions",
            "What is a generator?",
            "Review my function",
            "Decorators, step by step",
        ],
    )
    for title in ("Trip to Kyoto", "Quarterly report draft", "SQL index tuning", "Birthday ideas"):
        Conversation.objects.create(owner=alice, title=title)
    return persona


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_chat(browse, alice, gallery, fake, scheme):
    page, watched = browse(alice, color_scheme=scheme, path=f"/?persona={gallery.id}")
    expect(page.locator("#starters .starter")).to_have_count(4)
    expect(page.locator("#gauge-text")).not_to_be_empty()
    save(page, f"desktop-{scheme}-new-chat")
    fake.enqueue(Scenario(tokens=rich_tokens(), delay=0.01))
    page.fill("#prompt", "How do I reverse a list in Python?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(answer.locator("table")).to_be_visible()
    expect(answer.locator("pre code.hljs")).to_be_visible()
    save(page, f"desktop-{scheme}-answer")
    page.click("#params-toggle")
    page.fill("#param-top_p", "1.5")
    save(page, f"desktop-{scheme}-parameters")
    assert watched.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_on_a_phone(browse, alice, gallery, fake, scheme):
    fake.enqueue(Scenario(tokens=rich_tokens(), delay=0.05))
    page, watched = browse(alice, viewport=PHONE, color_scheme=scheme)
    page.fill("#prompt", "How do I reverse a list in Python?")
    page.keyboard.press("Enter")
    expect(page.locator(".message.assistant .body code").first).to_be_visible()
    save(page, f"phone-{scheme}-streaming")
    expect(page.locator(".message.assistant").last).to_have_attribute(
        "data-status", "complete", timeout=20_000
    )
    page.click("#open-sidebar")
    expect(page.locator("#sidebar")).to_be_in_viewport()
    page.wait_for_timeout(400)  # let the slide-in finish
    save(page, f"phone-{scheme}-sidebar")
    assert watched.errors == []


def test_screenshot_in_simplified_chinese(browse, alice, gallery, fake):
    fake.enqueue(Scenario(tokens=["列表", "可以", "用", "切片", "反转：", "`items[::-1]`", "。"]))
    page, _ = browse(alice, locale="zh-CN")
    page.fill("#prompt", "怎么反转一个列表？")
    page.keyboard.press("Enter")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-status", "complete")
    expect(page.locator("#new-chat")).to_contain_text("新对话")
    save(page, "desktop-light-chinese")
