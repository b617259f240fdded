// kb search page: search as you type, highlighted snippets, keyboard navigation, a section reader.
// Every piece of content from the index is inserted with textContent / text nodes, never as HTML.
"use strict";

(function () {
  const DEBOUNCE_MS = 150;
  const LIMIT = 20;
  const input = document.getElementById("q");
  const form = document.getElementById("search-form");
  const status = document.getElementById("status");
  const results = document.getElementById("results");
  const reader = document.getElementById("reader");
  let timer = 0;
  let inflight = null;
  let lastQuery = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function crumbs(parts, container) {
    parts.forEach((part, i) => {
      if (i) container.appendChild(el("span", "sep", "›"));
      container.appendChild(el("span", "crumb", part));
    });
    return container;
  }

  // Highlight offsets count Unicode code points (Python string indices); JavaScript strings count UTF-16 units,
  // so the snippet is split into code points before slicing.
  function highlighted(snippet, highlights) {
    const frag = document.createDocumentFragment();
    const chars = Array.from(snippet);
    let pos = 0;
    for (const [start, end] of highlights || []) {
      if (start < pos || end <= start || end > chars.length) continue;
      frag.appendChild(document.createTextNode(chars.slice(pos, start).join("")));
      frag.appendChild(el("mark", "", chars.slice(start, end).join("")));
      pos = end;
    }
    frag.appendChild(document.createTextNode(chars.slice(pos).join("")));
    return frag;
  }

  function address(hit) {
    return hit.path + ":" + hit.line + (hit.anchor ? "#" + hit.anchor : "");
  }

  // A link to the page on the published site; web URLs only (no javascript: or data: link can come through).
  function published(url) {
    const link = el("a", "published", "On the site ↗");
    let parsed = null;
    try { parsed = new URL(url); } catch (_e) { parsed = null; }
    if (parsed && /^ht{2}ps?:$/.test(parsed.protocol)) link.href = parsed.href;
    link.rel = "noopener noreferrer";
    link.title = url;
    return link;
  }

  function readerUrl(query, page, anchor) {
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    params.set("page", page);
    params.set("anchor", anchor);
    return "/?" + params.toString();
  }

  function setStatus(text, suggestion) {
    status.textContent = text;
    if (suggestion) {
      status.appendChild(document.createTextNode(" Did you mean "));
      const button = el("button", "", suggestion);
      button.type = "button";
      button.addEventListener("click", () => { input.value = suggestion; runSearch(); });
      status.appendChild(button);
      status.appendChild(document.createTextNode("?"));
    }
  }

  function showResults(data, query) {
    results.replaceChildren();
    data.hits.forEach((hit) => {
      const li = el("li");
      const link = el("a", "hit");
      link.href = readerUrl(query, hit.page, hit.anchor);
      link.dataset.page = hit.page;
      link.dataset.anchor = hit.anchor;
      link.appendChild(crumbs(hit.breadcrumb, el("div", "crumbs")));
      link.appendChild(el("div", "where", address(hit)));
      if (hit.snippet) {
        const p = el("p", "snippet");
        p.appendChild(highlighted(hit.snippet, hit.highlights));
        link.appendChild(p);
      }
      (hit.passages || []).forEach((more) => {
        const p = el("p", "more");
        p.appendChild(el("span", "more-line", "also, line " + more.line + ": "));
        p.appendChild(highlighted(more.snippet, more.highlights));
        link.appendChild(p);
      });
      li.appendChild(link);
      if (hit.url) li.appendChild(published(hit.url));
      results.appendChild(li);
    });
    let text;
    if (!data.hits.length) text = "No results for “" + query + "”.";
    else text = data.total + (data.total === 1 ? " result" : " results") + (data.total > data.hits.length
      ? ", showing " + data.hits.length : "") + ".";
    if (data.fallback === "or" && data.hits.length) text += " No section has all the words; showing partial matches.";
    setStatus(text, data.suggestion);
  }

  async function getJson(url, signal) {
    const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (_e) { body = null; }
    if (!response.ok) throw new Error((body && body.error) || "the server answered " + response.status);
    return body;
  }

  async function runSearch() {
    clearTimeout(timer);
    const query = input.value.trim();
    if (query === lastQuery) return;
    lastQuery = query;
    if (inflight) inflight.abort();
    const url = new URL(location.href);
    url.search = query ? "?" + new URLSearchParams({ q: query }).toString() : "";
    history.replaceState(null, "", url.pathname + url.search);
    showSearch();
    if (!query) { results.replaceChildren(); setStatus(""); return; }
    const controller = new AbortController();
    inflight = controller;
    try {
      const params = new URLSearchParams({ q: query, limit: String(LIMIT) });
      const data = await getJson("/api/search?" + params.toString(), controller.signal);
      if (controller === inflight) showResults(data, query);
    } catch (err) {
      if (err.name !== "AbortError" && controller === inflight) {
        results.replaceChildren();
        setStatus("Search failed: " + err.message);
      }
    } finally {
      if (controller === inflight) inflight = null;
    }
  }

  function showSearch() {
    reader.hidden = true;
    results.hidden = false;
    status.hidden = false;
  }

  // -- the reader: the whole page, built from /api/documents blocks with createElement/textContent only ----------

  function isWebUrl(href) { return /^ht{2}ps?:\/\//i.test(href); }

  // A fragment as written in the page; one that is not valid percent-encoding ("#%FF") is taken as it is.
  function decoded(fragment) {
    try { return decodeURIComponent(fragment); } catch (e) { return fragment; }
  }

  function spans(list, parent, ctx) {
    for (const span of list || []) {
      if (span.t === "text") parent.appendChild(document.createTextNode(span.v));
      else if (span.t === "code") parent.appendChild(el("code", "", span.v));
      else if (span.t === "em" || span.t === "strong" || span.t === "s") spans(span.c, parent.appendChild(el(span.t)), ctx);
      else if (span.t === "link") {
        const href = span.href || "";
        let node;
        if (isWebUrl(href)) { node = el("a"); node.href = href; node.rel = "noopener noreferrer"; }
        else if (href.startsWith("/?page=")) { node = el("a", "internal"); node.href = href + (ctx.query ? "&q=" + encodeURIComponent(ctx.query) : ""); }
        else if (href.startsWith("#")) { node = el("a", "internal"); node.href = readerUrl(ctx.query, ctx.page, decoded(href.slice(1))); }
        else node = el("span", "link");
        spans(span.c, node, ctx);
        parent.appendChild(node);
      }
    }
  }

  function blocks(list, parent, ctx) {
    for (const b of list || []) {
      if (b.t === "h") {
        const h = el("h" + Math.min(b.level + 1, 6), "heading");
        spans(b.c, h, ctx);
        if (b.anchor !== "") { h.dataset.anchor = b.anchor; h.tabIndex = -1; }
        parent.appendChild(h);
      } else if (b.t === "p") {
        spans(b.c, parent.appendChild(el("p")), ctx);
      } else if (b.t === "ul" || b.t === "ol") {
        const list = el(b.t);
        if (b.t === "ol" && b.start !== 1) list.start = b.start;
        for (const item of b.items) blocks(item, list.appendChild(el("li")), ctx);
        parent.appendChild(list);
      } else if (b.t === "code") {
        const pre = el("pre");
        pre.appendChild(el("code", "", b.v));
        parent.appendChild(pre);
      } else if (b.t === "quote") {
        blocks(b.c, parent.appendChild(el("blockquote")), ctx);
      } else if (b.t === "hr") {
        parent.appendChild(el("hr"));
      } else if (b.t === "table") {
        const wrap = el("div", "table");
        const table = wrap.appendChild(el("table"));
        if (b.head && b.head.length) {
          const tr = table.appendChild(el("thead")).appendChild(el("tr"));
          for (const cell of b.head) spans(cell, tr.appendChild(el("th")), ctx);
        }
        const body = table.appendChild(el("tbody"));
        for (const row of b.rows) {
          const tr = body.appendChild(el("tr"));
          for (const cell of row) spans(cell, tr.appendChild(el("td")), ctx);
        }
        parent.appendChild(wrap);
      }
    }
  }

  // The query's words (not its syntax), for highlighting them in the page; a word also matches its longer forms.
  function queryWords(query) {
    const words = [];
    for (let token of (query || "").split(/\s+/)) {
      if (!token || token === "OR" || token === "NOT" || token === "AND") continue;
      token = token.replace(/^[-+]/, "");
      if (/^[A-Za-z]+:/.test(token)) {
        if (/^(tag|tags|page|path|source):/i.test(token)) continue;
        token = token.replace(/^[A-Za-z]+:/, "");
      }
      token = token.replace(/["*()]/g, "").toLowerCase();
      if (token.length > 4) token = token.replace(/(ing|ed|es|s)$/, "");
      if (token.length >= 2) words.push(token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    }
    return words;
  }

  function highlightWords(root, query) {
    const words = queryWords(query);
    if (!words.length) return;
    const pattern = new RegExp("(?<![\\p{L}\\p{N}])(?:" + words.join("|") + ")[\\p{L}\\p{N}]*", "giu");
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const text = node.nodeValue;
      pattern.lastIndex = 0;
      if (!pattern.test(text)) continue;
      pattern.lastIndex = 0;
      const frag = document.createDocumentFragment();
      let pos = 0;
      for (const m of text.matchAll(pattern)) {
        frag.appendChild(document.createTextNode(text.slice(pos, m.index)));
        frag.appendChild(el("mark", "", m[0]));
        pos = m.index + m[0].length;
      }
      frag.appendChild(document.createTextNode(text.slice(pos)));
      node.parentNode.replaceChild(frag, node);
    }
  }

  function sectionLink(id, query, page, section, label) {
    const link = document.getElementById(id);
    if (section) {
      link.href = readerUrl(query, page, section.anchor);
      link.textContent = label + section.breadcrumb[section.breadcrumb.length - 1];
      link.hidden = false;
    } else {
      link.removeAttribute("href");
      link.hidden = true;
    }
  }

  async function openSection(query, page, anchor) {
    results.hidden = true;
    status.hidden = true;
    reader.hidden = false;
    const back = document.getElementById("back");
    back.href = query ? "/?" + new URLSearchParams({ q: query }).toString() : "/";
    const crumbBox = document.getElementById("reader-crumbs");
    const where = document.getElementById("reader-where");
    const text = document.getElementById("reader-text");
    const code = document.getElementById("reader-code");
    crumbBox.replaceChildren();
    where.textContent = "";
    text.textContent = "Loading…";
    code.hidden = true;
    sectionLink("prev", query, page, null, "");
    sectionLink("next", query, page, null, "");
    let target = null;
    try {
      const doc = await getJson("/api/documents/" + encodeURIComponent(page));
      const sections = doc.sections || [];
      const i = Math.max(0, sections.findIndex((s) => s.anchor === anchor));
      const s = sections[i];
      crumbs(s.breadcrumb, crumbBox);
      where.textContent = s.path + ":" + s.line + (s.anchor ? "#" + s.anchor : "") + " ";
      if (s.url) where.appendChild(published(s.url));
      text.replaceChildren();
      blocks(doc.blocks, text, { query: query, page: doc.page });
      highlightWords(text, query);
      sectionLink("prev", query, page, sections[i - 1], "← ");
      sectionLink("next", query, page, sections[i + 1], "→ ");
      for (const h of text.querySelectorAll(".heading")) {
        h.classList.toggle("current", h.dataset.anchor === s.anchor);
        if (h.dataset.anchor === s.anchor && !target) target = h;
      }
      document.title = s.breadcrumb[s.breadcrumb.length - 1] + " – kb";
    } catch (err) {
      text.textContent = "Cannot show this section: " + err.message;
    }
    if (target) { target.scrollIntoView({ block: "start" }); target.focus({ preventScroll: true }); }
    else { window.scrollTo(0, 0); back.focus(); }
  }

  function route() {
    const params = new URLSearchParams(location.search);
    const query = params.get("q") || "";
    input.value = query;
    if (params.has("page")) {
      lastQuery = null;
      openSection(query, params.get("page"), params.get("anchor") || "");
    } else {
      document.title = "kb search";
      lastQuery = null;
      runSearch();
    }
  }

  function links() { return Array.from(results.querySelectorAll("a.hit")); }

  function follow(event, href) {
    event.preventDefault();
    history.pushState(null, "", href);
    route();
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(runSearch, DEBOUNCE_MS);
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      const first = links()[0];
      if (first) { event.preventDefault(); runSearch(); first.focus(); }
    } else if (event.key === "Escape") {
      if (input.value) { input.value = ""; runSearch(); } else input.blur();
    }
  });
  results.addEventListener("keydown", (event) => {
    const all = links();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    if (event.key === "ArrowDown" && i + 1 < all.length) { event.preventDefault(); all[i + 1].focus(); }
    else if (event.key === "ArrowUp") { event.preventDefault(); (i > 0 ? all[i - 1] : input).focus(); }
    else if (event.key === "Escape") { event.preventDefault(); input.focus(); }
  });
  results.addEventListener("click", (event) => {
    const link = event.target.closest("a.hit");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    follow(event, link.getAttribute("href"));
  });
  document.getElementById("back").addEventListener("click", (event) => {
    follow(event, event.currentTarget.getAttribute("href"));
  });
  // Links inside the reader to other sections and pages of the knowledge base stay in the page.
  reader.addEventListener("click", (event) => {
    const link = event.target.closest("a.internal, #prev, #next");
    if (!link || !link.getAttribute("href") || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    follow(event, link.getAttribute("href"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
      input.select();
    } else if (event.key === "Escape" && !reader.hidden) {
      document.getElementById("back").click();
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && !reader.hidden &&
               document.activeElement !== input && !event.altKey && !event.ctrlKey && !event.metaKey) {
      const link = document.getElementById(event.key === "ArrowLeft" ? "prev" : "next");
      if (!link.hidden) { event.preventDefault(); link.click(); }
    }
  });
  window.addEventListener("popstate", route);
  route();
  if (reader.hidden) input.focus();
})();
