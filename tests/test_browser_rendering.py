"""How answers read: line breaks as models mean them, and math through KaTeX as MathML.

Most cases call the page's own markdown module in real Chromium (the module the
thread uses, loaded from the running app); one answer streams through the fake
upstream end to end. Every test also counts Content-Security-Policy violations:
math must render under the page's strict policy without asking for anything it
refuses.
"""

import pytest
from playwright.sync_api import expect

from tests.fakeupstream import Scenario
from tests.test_browser_safety import chunks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COUNT_VIOLATIONS = """() => {
  window.__violations = [];
  document.addEventListener("securitypolicyviolation", (event) => {
    window.__violations.push(`${event.violatedDirective} ${event.sample}`);
  });
}"""

# Renders markdown with the app's module into a fresh element and describes it.
RENDER = """async (text) => {
  const url = document.querySelector('link[rel=modulepreload][href*="markdown.js"]').href;
  const { renderMarkdown } = await import(url);
  const box = document.createElement("div");
  box.className = "body rendered-for-test";
  box.append(renderMarkdown(text));
  document.querySelector("#messages").append(box);
  const all = (selector) => [...box.querySelectorAll(selector)];
  return {
    html: box.innerHTML,
    text: box.innerText,
    maths: all("math").map((m) => ({
      display: m.getAttribute("display"),
      source: m.querySelector("annotation")?.textContent ?? null,
      text: m.textContent,
      width: m.getBoundingClientRect().width,
      height: m.getBoundingClientRect().height,
    })),
    errors: all(".math-error").map((e) => e.textContent),
    brs: all("p br").length,
    paragraphs: all("p").map((p) => p.innerText),
    code: all("code").map((c) => c.textContent),
    ems: all("em").map((e) => e.textContent),
    styled: all("[style]").length,
    links: all("[href]").map((a) => a.getAttribute("href")),
    foreign: all("svg, img, iframe, object, embed, foreignObject, annotation-xml").length,
    ids: all("[id]").length,
    boxes: all("math, math *").map((e) => e.getBoundingClientRect()).reduce(
      (widest, r) => Math.max(widest, r.width, r.height), 0),
  };
}"""


@pytest.fixture
def render(browse, alice, upstream_model):
    page, watched = browse(alice)
    page.evaluate(COUNT_VIOLATIONS)

    def rendered(text: str) -> dict:
        return page.evaluate(RENDER, text)

    rendered.page = page
    rendered.watched = watched
    yield rendered
    assert page.evaluate("window.__violations") == []
    assert watched.errors == [] and watched.dialogs == [] and watched.foreign_requests == []


def test_single_line_breaks_stay_line_breaks(render):
    poem = "Roses are red,\nViolets are blue,\nSugar is sweet."

    result = render(poem)

    assert result["brs"] == 2
    assert result["paragraphs"] == ["Roses are red,\nViolets are blue,\nSugar is sweet."]


def test_line_breaks_leave_code_lists_and_tables_alone(render):
    text = (
        "Steps:\n"
        "- first\n"
        "- second\n\n"
        "```python\nx = 1\ny = 2\n```\n\n"
        "| a | b |\n|:-:|---|\n| 1 | 2 |\n\n"
        "Two paragraphs\n\nstay two."
    )

    result = render(text)

    assert "x = 1\ny = 2" in result["code"][0]
    assert "<br" not in result["html"].split("<pre")[1].split("</pre>")[0]
    assert result["html"].count("<li>") == 2
    assert "<table>" in result["html"] and "<td>2</td>" in result["html"]
    assert '<td align="center">1</td>' in result["html"]
    assert result["paragraphs"][-2:] == ["Two paragraphs", "stay two."]


def test_all_four_delimiters_render_as_mathml(render):
    text = (
        "Inline $x^2$ and \\(a_1+b_1\\) here.\n\n"
        "$$\n\\frac{1}{2}\n$$\n\n"
        "\\[\n\\sqrt{y}\n\\]\n\n"
        "And $$z$$ in a sentence."
    )

    result = render(text)

    sources = [(m["source"], m["display"]) for m in result["maths"]]
    assert sources == [
        ("x^2", None),
        ("a_1+b_1", None),
        ("\\frac{1}{2}", "block"),
        ("\\sqrt{y}", "block"),
        ("z", "block"),
    ]
    assert all(m["width"] > 0 and m["height"] > 0 for m in result["maths"])
    assert result["errors"] == []
    assert "$" not in result["text"] and "\\(" not in result["text"]
    assert result["styled"] == 0


def test_a_display_block_may_follow_its_paragraph_line_directly(render):
    result = render("The integral:\n$$\n\\int_0^1 x\\,dx\n$$\nthen text.")

    assert [m["display"] for m in result["maths"]] == ["block"]
    assert result["paragraphs"] == ["The integral:", "then text."]


def test_habits_latex_rejects_but_models_have_still_render(render):
    result = render("$速度 = d/t$\n\n$$\na = b \\\\ c = d\n$$")

    assert [m["source"] for m in result["maths"]] == ["速度 = d/t", "a = b \\\\ c = d"]
    assert result["errors"] == []


def test_money_stays_text(render):
    text = (
        "It costs $5 and $10.\n\n"
        "Between $5-$10 a month, or $120/year.\n\n"
        "Prices: $1, $2, $3.\n\n"
        "An escaped \\$x\\$ stays text too."
    )

    result = render(text)

    assert result["maths"] == []
    assert result["paragraphs"] == [
        "It costs $5 and $10.",
        "Between $5-$10 a month, or $120/year.",
        "Prices: $1, $2, $3.",
        "An escaped $x$ stays text too.",
    ]


def test_math_inside_code_stays_code(render):
    text = "Use `$x^2$` literally.\n\n```\n$$\n\\frac{a}{b}\n$$\n```\n\n    $y$ indented code"

    result = render(text)

    assert result["maths"] == []
    assert "$x^2$" in result["code"]
    assert any("$$\n\\frac{a}{b}\n$$" in code for code in result["code"])
    assert any("$y$ indented code" in code for code in result["code"])


def test_emphasis_does_not_reach_into_math(render):
    result = render("*note* $a*b$ and $c*d$, and $x_1$ with $y_1$ _done_")

    assert [m["source"] for m in result["maths"]] == ["a*b", "c*d", "x_1", "y_1"]
    assert result["ems"] == ["note", "done"]


def test_a_formula_still_being_written_shows_as_text_until_closed(render):
    partial = render("Before\n$$\n\\frac{1}{")
    closed = render("Before\n$$\n\\frac{1}{2}\n$$")
    inline_partial = render("so $x^")

    assert partial["maths"] == [] and "$$" in partial["text"]
    assert [m["display"] for m in closed["maths"]] == ["block"]
    assert inline_partial["maths"] == [] and inline_partial["text"].strip() == "so $x^"


def test_broken_tex_shows_its_source_and_the_rest_still_renders(render):
    result = render("Bad $\\frac{1}{$ and good $x$.\n\n$$\n\\begin{matrix} a \\end{pmatrix}\n$$")

    assert [m["source"] for m in result["maths"]] == ["x"]
    assert result["errors"] == ["$\\frac{1}{$", "$$\n\\begin{matrix} a \\end{pmatrix}\n$$"]


HOSTILE_FORMULAS = [
    "$\\href{javascript:window.__pwned='href'}{click}$",
    "$\\url{javascript:window.__pwned='url'}$",
    "$\\htmlClass{evil}{x}$",
    "$\\htmlId{evil}{x}$",
    "$\\htmlStyle{color:red;background:url(https://evil.example/s.png)}{x}$",
    "$\\htmlData{pwned=1}{x}$",
    "$\\includegraphics{https://evil.example/pixel.png}$",
    "$\\rule{100000em}{100000em}$",
    "$x\\kern{100000em}y\\hspace{99999em}z$",
    "$\\fcolorbox{red}{blue}{boxed}$",
    "$\\pmb{bold}$",
    "$\\color{red}{x}\\textcolor{url(javascript:alert(1))}{y}$",
    "$\\def\\a{\\b\\b}\\def\\b{\\c\\c}\\def\\c{\\d\\d}\\def\\d{\\e\\e}\\def\\e{\\f\\f}"
    "\\def\\f{\\g\\g}\\def\\g{\\h\\h}\\def\\h{\\i\\i}\\def\\i{\\j\\j}\\def\\j{xx}\\a$",
    "$" + "{" * 3000 + "x" + "}" * 3000 + "$",
    "$" + "\\frac{" * 300 + "x" + "}{y}" * 300 + "$",
    "$" + "x+" * 5000 + "x$",
    "$$\n\\text{<img src=x onerror=alert(1)>}</math><img src=x onerror=alert(2)>\n$$",
    "$\\gdef\\leak{LEAKED}x$ then $\\leak$",
]


def test_hostile_formulas_stay_inert_and_bounded(render):
    for formula in HOSTILE_FORMULAS:
        result = render(formula)

        assert result["links"] == [], formula
        assert result["styled"] == 0, formula
        assert result["foreign"] == 0, formula
        assert result["ids"] == 0, formula
        assert result["boxes"] < 2000, formula  # nothing as large as 100000em
    page = render.page
    assert page.evaluate("window.__violations") == []  # \fcolorbox and \pmb write styles
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".rendered-for-test .evil").count() == 0


def test_huge_and_deep_formulas_show_as_source(render):
    long = "x+" * 5000 + "x"
    deep = "{" * 3000 + "x" + "}" * 3000

    assert render(f"${long}$")["errors"] == [f"${long}$"]
    assert render(f"${deep}$")["errors"] == [f"${deep}$"]


def test_a_definition_in_one_formula_does_not_leak_into_the_next(render):
    result = render("$\\gdef\\leak{LEAKED}x$ then $\\leak$")

    assert "LEAKED" not in result["text"]
    assert result["errors"] == ["$\\leak$"]


STREAMED = (
    "A poem:\nline one\nline two\n\n"
    "Euler: $e^{i\\pi}+1=0$, costs $5 and $10.\n\n"
    "$$\n\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}\n$$\n\n"
    "Done."
)


def test_a_streamed_answer_renders_breaks_and_math_without_csp_noise(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(tokens=chunks(STREAMED, size=3), delay=0.005))
    page, watched = browse(alice)
    page.evaluate(COUNT_VIOLATIONS)
    page.fill("#prompt", "Show me math")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    body = answer.locator(".body")

    expect(body.locator("math")).to_have_count(2)
    expect(body.locator("math[display=block]")).to_have_count(1)
    assert body.locator("p").first.locator("br").count() == 2
    expect(body).to_contain_text("costs $5 and $10.")
    expect(body).to_contain_text("Done.")
    assert body.locator(".math-error").count() == 0
    assert page.evaluate("window.__violations") == []
    assert watched.errors == [] and watched.foreign_requests == []
