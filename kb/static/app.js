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
      const link = el("a");
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
    try {
      const url = "/api/pages/" + encodeURIComponent(page) + "/sections/" + encodeURIComponent(anchor);
      const s = await getJson(url);
      crumbs(s.breadcrumb, crumbBox);
      where.textContent = s.path + ":" + s.line + (s.anchor ? "#" + s.anchor : "");
      text.textContent = s.text;
      code.textContent = s.code;
      code.hidden = !s.code;
      document.title = s.breadcrumb[s.breadcrumb.length - 1] + " – kb";
    } catch (err) {
      text.textContent = "Cannot show this section: " + err.message;
    }
    back.focus();
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

  function links() { return Array.from(results.querySelectorAll("a")); }

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
    const link = event.target.closest("a");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    follow(event, link.getAttribute("href"));
  });
  document.getElementById("back").addEventListener("click", (event) => {
    follow(event, event.currentTarget.getAttribute("href"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
      input.select();
    } else if (event.key === "Escape" && !reader.hidden) {
      document.getElementById("back").click();
    }
  });
  window.addEventListener("popstate", route);
  route();
  if (reader.hidden) input.focus();
})();
