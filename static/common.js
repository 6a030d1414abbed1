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
     to polling every 5 s while the stream is down. */
  function live(streamUrl, stateUrl, render) {
    let poll = null, source = null;
    function startPolling() {
      if (poll) return;
      poll = setInterval(() => { fetch(stateUrl, { credentials: "same-origin" })
        .then((r) => r.ok ? r.json() : null).then((s) => { if (s) render(s); }).catch(() => {}); }, 5000);
    }
    function connect() {
      source = new EventSource(streamUrl, { withCredentials: true });
      source.addEventListener("state", (e) => {
        if (poll) { clearInterval(poll); poll = null; }
        render(JSON.parse(e.data));
      });
      source.onerror = () => { startPolling(); };
    }
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
