/* The organiser console: roster, clock controls, preview, walk-ups; live. */
"use strict";
(function () {
  const root = document.getElementById("console");
  const id = root.dataset.event, base = "/api/v1/events/" + id;
  const { api, live, el, syncClock, secondsUntil, format } = window.CG;
  const message = document.getElementById("message");
  let state = null;

  async function act(fn) {
    try { message.textContent = ""; await fn(); } catch (err) { message.textContent = err.message; }
  }

  function render(s) {
    state = s; syncClock(s.server_time);
    const e = s.event;
    document.getElementById("event-name").textContent = e.name;
    document.getElementById("summary").textContent = e.status + " · " + e.counts.present + " here, " +
      e.counts.on_break + " on a break, " + e.counts.joined + " joined" +
      (e.current_round ? " · round " + e.current_round + " of " + e.rounds : "");
    document.getElementById("auto").checked = e.auto_advance;
    document.getElementById("count").textContent = "(" + s.attendees.length + ")";
    const body = document.getElementById("roster"); body.replaceChildren();
    for (const a of s.attendees) {
      const box = el("input", { type: "checkbox", "aria-label": "Check in " + a.name });
      box.checked = a.presence === "present";
      box.addEventListener("change", () => act(() => api("PATCH", base + "/attendees/" + a.id,
        { presence: box.checked ? "present" : "registered" })));
      body.append(el("tr", {}, el("td", {}, a.name), el("td", {}, a.organisation), el("td", {}, box)));
    }
    tick();
  }

  function tick() {
    const r = state && state.round, clock = document.getElementById("clock");
    if (!r) { clock.textContent = "Not started"; return; }
    const c = r.clock;
    clock.textContent = "Round " + c.index + " · " + c.phase + " " +
      (c.phase === "paused" ? format(c.remaining_seconds) : format(secondsUntil(c.phase_ends_at)));
  }
  setInterval(tick, 250);

  document.getElementById("start").addEventListener("click", () => act(async () => {
    const next = (state.event.current_round || 0) + 1;
    await api("POST", base + "/rounds", { expected_index: next });
  }));
  for (const b of document.querySelectorAll("[data-clock]")) {
    b.addEventListener("click", () => act(() => api("POST", base + "/clock", { action: b.dataset.clock, seconds: 60 })));
  }
  document.getElementById("auto").addEventListener("change", (e) =>
    act(() => api("PATCH", base, { auto_advance: e.target.checked })));
  document.getElementById("preview").addEventListener("click", () => act(async () => {
    const p = await api("GET", base + "/rounds/preview"), q = p.quality, box = document.getElementById("preview-body");
    box.replaceChildren(el("p", {}, "Round " + p.index + ": " + q.groups + " tables, mean common ground " +
      q.mean_common_ground + ", " + q.groups_without_common_ground + " with nothing in common" +
      (q.odd_group.length ? ", odd table: " + q.odd_group.map((m) => m.name).join(", ") : "") +
      (q.sitting_out.length ? ", sitting out: " + q.sitting_out.map((m) => m.name).join(", ") : "")));
  }));
  document.getElementById("walkup").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    act(async () => { await api("POST", base + "/attendees", { name: form.get("name"), organisation: form.get("organisation") || "" });
      e.target.reset(); });
  });
  live(root.dataset.streamUrl, root.dataset.stateUrl, render);
})();
