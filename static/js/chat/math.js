// Math in model text: $…$, $$…$$, \(…\) and \[…\] become MathML through KaTeX,
// as a marked extension (so code spans and code blocks, tokenised first, stay code).
//
// The formula is untrusted. KaTeX runs with trust off (no \href, \url,
// \includegraphics, \html…), strict LaTeX, capped sizes and macro expansion, and
// writes MathML only: Chromium lays it out natively, with no KaTeX stylesheet,
// fonts or inline styles. The markup still goes through the page's sanitiser
// (markdown.js) with the rest of the answer.
//
// Errors are caught here rather than left to KaTeX's throwOnError: false, whose
// error markup carries an inline style that the page's Content-Security-Policy
// refuses (and reports) while the sanitiser parses it. For the same reason the two
// commands whose MathML has a style attribute are redefined without one.
import katex from "../../vendor/katex/katex.mjs";
import { gettext } from "./i18n.js";

// Beyond these a formula is shown as its source: laying out a 10,000-character or
// 500-deep formula would freeze the tab at every streamed word.
const MAX_FORMULA_CHARS = 4000;
const MAX_NESTING = 60;
const MAX_CACHED = 400;

// Harmless habits of models that LaTeX itself rejects: Unicode text in math
// ("$速度 = d/t$") and a line break in display math outside an environment.
const LENIENT = new Set(["unicodeTextInMathMode", "unknownSymbol", "newLineInDisplayMode"]);

const STYLELESS_MACROS = {
  "\\fcolorbox": "\\@secondoftwo{#1}{\\colorbox{#2}{#3}}", // its border is a style attribute
  "\\pmb": "\\boldsymbol{#1}", // its text-shadow is a style attribute
};

const KATEX_OPTIONS = {
  output: "mathml",
  trust: false,
  throwOnError: true, // caught in tryTypeset(); see above
  strict: (code) => (LENIENT.has(code) ? "ignore" : "error"),
  maxSize: 10, // em: caps \rule, \kern, \hspace…
  maxExpand: 500,
};

// The whole answer is rendered again at every streamed delta; formulas already
// typeset are taken from here (Map keeps insertion order: oldest go first).
const typesetCache = new Map();

// Display math on lines of its own; up to three spaces of indent, as markdown
// allows before a block (four make an indented code block).
const BLOCK_RULE = /^ {0,3}(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]) *(?:\n+|$)/;
const BLOCK_CANDIDATE = /\n {0,3}(?:\$\$|\\\[)/g;
// Inline: $…$ opens before a non-space and closes after one, never right before a
// digit and never across lines, so "$5 and $10" stays money (Pandoc's rule).
// Backslash pairs are read as one, so `\$` and `\\)` never close a formula.
const DOLLAR_DISPLAY = String.raw`\$\$((?:\\[\s\S]|[^\\$])+?)\$\$`;
const DOLLAR_INLINE = String.raw`\$(?![\s$])((?:\\[^\n]|[^\\$\n])*?(?:\\[^\n]|[^\s\\$]))\$(?!\d)`;
const INLINE_RULES = [
  [new RegExp(`^${DOLLAR_DISPLAY}`), true],
  [new RegExp(`^${DOLLAR_INLINE}`), false],
  [/^\\\(((?:\\[\s\S]|[^\\])+?)\\\)/, false],
  [/^\\\[((?:\\[\s\S]|[^\\])+?)\\\]/, true],
];
const INLINE_CANDIDATE = /\$|\\[([]/;
// For emphasis: a `*` or `_` inside $…$ is not markdown.
const DOLLAR_SPANS = new RegExp(`${DOLLAR_DISPLAY}|${DOLLAR_INLINE}`, "g");

const blockMath = {
  name: "blockMath",
  level: "block",
  start(src) {
    // Only where a whole block follows, so a paragraph is never cut by a `$$`
    // that is still being written, or that has more text after it on its line.
    for (const candidate of src.matchAll(BLOCK_CANDIDATE)) {
      if (BLOCK_RULE.test(src.slice(candidate.index + 1))) return candidate.index + 1;
    }
    return undefined;
  },
  tokenizer(src) {
    const match = BLOCK_RULE.exec(src);
    if (!match) return undefined;
    const text = (match[1] ?? match[2]).trim();
    return { type: "blockMath", raw: match[0], text, display: true };
  },
  renderer(token) {
    return `<div class="math-block">${typeset(token.text, true, token.raw.trim())}</div>\n`;
  },
};

const inlineMath = {
  name: "inlineMath",
  level: "inline",
  start(src) {
    const index = src.search(INLINE_CANDIDATE);
    return index < 0 ? undefined : index;
  },
  tokenizer(src) {
    for (const [rule, display] of INLINE_RULES) {
      const match = rule.exec(src);
      if (match) return { type: "inlineMath", raw: match[0], text: match[1].trim(), display };
    }
    return undefined;
  },
  renderer(token) {
    const math = typeset(token.text, token.display, token.raw);
    return token.display ? `<span class="math-block">${math}</span>` : math;
  },
};


export const mathExtension = {
  extensions: [blockMath, inlineMath],
  hooks: {
    emStrongMask(src) {
      return src.replace(DOLLAR_SPANS, (span) => `$${"a".repeat(span.length - 2)}$`);
    },
  },
};

function typeset(tex, display, raw) {
  const key = `${display ? "D" : "I"}${tex}`;
  let markup = typesetCache.get(key);
  if (markup === undefined) {
    markup = tryTypeset(tex, display, raw);
    if (typesetCache.size >= MAX_CACHED) typesetCache.delete(typesetCache.keys().next().value);
    typesetCache.set(key, markup);
  }
  return markup;
}

function tryTypeset(tex, display, raw) {
  if (tex.length > MAX_FORMULA_CHARS || nesting(tex) > MAX_NESTING) return asSource(raw);
  try {
    // A fresh macro table each time: \gdef in one formula must not leak into the next.
    const macros = { ...STYLELESS_MACROS };
    return katex.renderToString(tex, { ...KATEX_OPTIONS, displayMode: display, macros });
  } catch {
    // A ParseError, or a RangeError from input nested deeper than the stack.
    return asSource(raw);
  }
}

function nesting(tex) {
  let depth = 0;
  let deepest = 0;
  for (const char of tex) {
    if (char === "{") deepest = Math.max(deepest, ++depth);
    else if (char === "}") depth -= 1;
  }
  return deepest;
}

// What the model wrote, delimiters and all, as text.
function asSource(raw) {
  const title = escapeHtml(gettext("This formula could not be shown as math."));
  return `<span class="math-error" title="${title}">${escapeHtml(raw)}</span>`;
}

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}
