// A small Markdown renderer for model answers, safe by construction: it builds DOM
// nodes (createElement, text nodes) and never parses HTML, so a model that writes
// "<img onerror=...>" or "<script>" shows that text. Links are made only for http,
// https and mailto URLs; any other link ("javascript:", "data:") stays plain text.
//
// The subset models use: paragraphs (a single newline is a line break), headings,
// **strong**, *emphasis*, ~~strike~~, `code`, fenced code blocks, bullet and
// numbered lists, block quotes, rules, [links](https://...) and bare URLs.
"use strict";

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

function safeUrl(text) {
  try {
    const url = new URL(text);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;  // relative or malformed: not a link
  }
}

function element(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

// -- inline ------------------------------------------------------------------------------

const INLINE = new RegExp([
  "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)",                // 1,2 code span
  "\\[([^\\]\\n]+)\\]\\(([^()\\s]+)\\)",                   // 3,4 link
  "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*",                    // 5 strong with **
  "(?<!\\w)__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)",                // 6 strong with __
  "(?<![\\w*])\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*(?!\\*)", // 7 emphasis with *
  "(?<!\\w)_(?=\\S)([\\s\\S]*?\\S)_(?!\\w)",               // 8 emphasis with _
  "~~(?=\\S)([\\s\\S]*?\\S)~~",                            // 9 strike
  "(https?:\\/\\/[^\\s<>()]*[^\\s<>().,;:!?'\"])",          // 10 bare URL
].join("|"));

function link(label, href) {
  const anchor = element("a");
  anchor.href = href;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer nofollow";
  anchor.append(...label);
  return anchor;
}

function inline(text) {
  const nodes = [];
  let rest = text;
  while (rest) {
    const found = INLINE.exec(rest);
    if (!found) break;
    if (found.index > 0) nodes.push(...breaks(rest.slice(0, found.index)));
    const [whole] = found;
    if (found[1] !== undefined) {
      const code = element("code");
      code.textContent = found[2];
      nodes.push(code);
    } else if (found[3] !== undefined) {
      const href = safeUrl(found[4]);
      nodes.push(href ? link(inline(found[3]), href) : document.createTextNode(whole));
    } else if (found[5] !== undefined || found[6] !== undefined) {
      const strong = element("strong");
      strong.append(...inline(found[5] ?? found[6]));
      nodes.push(strong);
    } else if (found[7] !== undefined || found[8] !== undefined) {
      const em = element("em");
      em.append(...inline(found[7] ?? found[8]));
      nodes.push(em);
    } else if (found[9] !== undefined) {
      const del = element("del");
      del.append(...inline(found[9]));
      nodes.push(del);
    } else {
      const href = safeUrl(found[10]);
      nodes.push(href ? link([document.createTextNode(found[10])], href)
        : document.createTextNode(whole));
    }
    rest = rest.slice(found.index + whole.length);
  }
  if (rest) nodes.push(...breaks(rest));
  return nodes;
}

function breaks(text) {
  const nodes = [];
  text.split("\n").forEach((line, index) => {
    if (index > 0) nodes.push(element("br"));
    if (line) nodes.push(document.createTextNode(line));
  });
  return nodes;
}

// -- blocks ------------------------------------------------------------------------------

const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+-]*)/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;

function renderBlocks(lines, into) {
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    let found;
    if (!line.trim()) {
      index += 1;
    } else if ((found = FENCE.exec(line))) {
      const fence = found[1];
      const body = [];
      index += 1;
      while (index < lines.length && !lines[index].trim().startsWith(fence)) {
        body.push(lines[index]);
        index += 1;
      }
      index += 1;  // the closing fence (or the end)
      const pre = element("pre");
      const code = element("code");
      if (found[2]) code.dataset.language = found[2];
      code.textContent = body.join("\n");
      pre.append(code);
      into.append(pre);
    } else if ((found = HEADING.exec(line))) {
      const level = Math.min(found[1].length + 2, 6);  // # is a section title, not the page's
      const heading = element(`h${level}`);
      heading.append(...inline(found[2]));
      into.append(heading);
      index += 1;
    } else if (RULE.test(line)) {
      into.append(element("hr"));
      index += 1;
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (index < lines.length && QUOTE.test(lines[index])) {
        quoted.push(QUOTE.exec(lines[index])[1]);
        index += 1;
      }
      const quote = element("blockquote");
      renderBlocks(quoted, quote);
      into.append(quote);
    } else if ((found = ITEM.exec(line))) {
      index = renderList(lines, index, into);
    } else {
      const paragraph = [];
      while (index < lines.length && lines[index].trim() && !startsBlock(lines[index])) {
        paragraph.push(lines[index]);
        index += 1;
      }
      const node = element("p");
      node.append(...inline(paragraph.join("\n")));
      into.append(node);
    }
  }
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || QUOTE.test(line) || ITEM.test(line)
    || RULE.test(line);
}

function renderList(lines, start, into) {
  const first = ITEM.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const list = element(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  const indent = first[1].length;
  let index = start;
  while (index < lines.length) {
    const found = ITEM.exec(lines[index]);
    if (!found || found[1].length !== indent || /\d/.test(found[2]) !== ordered) break;
    const body = [found[3]];
    index += 1;
    // continuation lines and nested lists: indented deeper than the marker
    while (index < lines.length) {
      const next = lines[index];
      const nested = ITEM.exec(next);
      if (next.trim() && (nested ? nested[1].length > indent : !startsBlock(next))) {
        body.push(nested ? next.slice(indent) : next.trim());
        index += 1;
      } else if (!next.trim() && index + 1 < lines.length
          && /^\s+\S/.test(lines[index + 1]) && !ITEM.exec(lines[index + 1])) {
        body.push("");  // a blank line inside an item
        index += 1;
      } else {
        break;
      }
    }
    // a blank line between two items of this list keeps the list going
    if (index + 1 < lines.length && !lines[index]?.trim()) {
      const after = ITEM.exec(lines[index + 1]);
      if (after && after[1].length === indent && /\d/.test(after[2]) === ordered) index += 1;
    }
    const item = element("li");
    if (body.some((text, position) => position > 0 && ITEM.test(text))) {
      renderBlocks(body, item);
    } else {
      item.append(...inline(body.join("\n")));
    }
    list.append(item);
  }
  into.append(list);
  return index;
}

// Replace ``target``'s children with ``text`` rendered as Markdown.
function renderMarkdown(target, text) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text).replace(/\r\n?/g, "\n").split("\n"), fragment);
  target.replaceChildren(fragment);
}

window.renderMarkdown = renderMarkdown;
