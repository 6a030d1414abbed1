/* Shared by the pages: API calls with cookies, a live stream with a polling fallback, and a
   countdown that uses the server's clock (never the phone's). */
"use strict";
window.CG = (function () {
  let offset = 0; // server time minus local time, in ms

  function syncClock(serverTime) {
    if (serverTime) offset = Date.parse(serverTime) - Date.now();
  }
  function now() { return Date.now() + offset; }
  function secondsUntil(iso) { return iso ? Math.max(0, (Date.parse(iso) - now()) / 1000) : null; }
  function format(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.ceil(seconds), m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF": "1" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const detail = data && data.detail;
      if (typeof detail === "string") throw new Error(detail);
      if (Array.isArray(detail) && detail.length) {
        // Validation errors: "contact.email: value is not a valid email address".
        throw new Error(detail.map((d) => (d.loc ? d.loc.filter((p) => p !== "body").join(".") + ": " : "") + (d.msg || d.reason || "")).join("; "));
      }
      throw new Error("Something went wrong (" + response.status + ")");
    }
    return data;
  }

  /* Calls render(state) on connect and on every change; re-reads on reconnect; falls back
     to polling every 4 to 6 s while the stream is down. onLink(false) says neither the stream nor
     polling reaches the server (the page keeps what it shows); onLink(true), that one does. */
  function live(streamUrl, stateUrl, render, onLink) {
    let poll = null, polledAt = 0, source = null, refused = 0;
    const link = onLink || (() => {});
    // A poll that fails after the stream is back (it was sent while offline) says nothing.
    const lost = () => { if (!source || source.readyState !== EventSource.OPEN) link(false); };
    function startPolling() {
      if (poll) return;
      // Every 4 to 6 s, a different period on each phone: phones that fell back at the same
      // moment (a server at its open-file limit refusing their streams) drift out of step
      // instead of all asking at once, wave after wave.
      poll = setInterval(() => { fetch(stateUrl, { credentials: "same-origin" })
        .then((r) => r.ok ? r.json() : null)
        .then((s) => { if (s) { polledAt = Date.now(); link(true); render(s); } else lost(); })
        .catch(lost); }, 4000 + Math.random() * 2000);
    }
    function connect() {
      if (source) source.close();
      const stream = source = new EventSource(streamUrl, { withCredentials: true });
      stream.onopen = () => link(true);
      stream.addEventListener("state", (e) => {
        if (poll) { clearInterval(poll); poll = null; }
        refused = 0;
        link(true);
        render(JSON.parse(e.data));
      });
      stream.onerror = () => {
        startPolling();
        // A refused stream (CLOSED: the server answered, e.g. 503 near its open-file limit)
        // is no lost link: polling carries on quietly.
        link(stream.readyState === EventSource.CLOSED || Date.now() - polledAt < 6000);
        // A stream the browser gave up on (an error page, not a lost network) is opened
        // again later rather than left to polling for good.
        if (stream.readyState === EventSource.CLOSED && source === stream) {
          source = null;
          // Refused again and again: wait longer each time (5 s doubling to a minute), at
          // random, so that a room of phones does not come back in step.
          refused += 1;
          const wait = Math.min(5000 * 2 ** (refused - 1), 60000) * (0.5 + Math.random());
          setTimeout(() => { if (!source) connect(); }, wait);
        }
      };
    }
    // A phone that loses the wifi can keep a dead connection open for minutes: drop it at
    // once, and open a fresh one (it starts with the full state) when the wifi returns.
    window.addEventListener("offline", () => {
      if (source) { source.close(); source = null; }
      link(false); startPolling();
    });
    window.addEventListener("online", () => { if (window.EventSource) connect(); });
    if (window.EventSource) connect(); else startPolling();
    fetch(stateUrl, { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null)
      .then((s) => { if (s) render(s); }).catch(() => {});
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child !== null && child !== undefined)
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  return { api, live, el, syncClock, secondsUntil, format, now };
})();
