/* The projector: huge countdown, names → tables in columns, paging when they do not fit. */
"use strict";
(function () {
  const root = document.getElementById("projector");
  const { live, el, syncClock, secondsUntil, format } = window.CG;
  const rowsBox = document.getElementById("rows"), pager = document.getElementById("page");
  let state = null, page = 0, lastPhase = "", audio = null;
  const PHASES = { changeover: "Find your partner", talk: "Talk", paused: "Paused", ended: "Break" };

  function chime() {
    if (!audio) return;
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.setValueAtTime(0.3, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 1.2);
    osc.connect(gain).connect(audio.destination); osc.start(); osc.stop(audio.currentTime + 1.2);
  }
  document.getElementById("sound").addEventListener("click", (e) => {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    e.target.textContent = "Chime on"; chime();
  });

  function render(s) { syncClock(s.server_time); show(s); }

  // Draws a state; also when the talk begins, between the server's updates (no clock sync:
  // the state's server_time is old by then).
  function show(s) {
    state = s;
    document.getElementById("event-name").textContent = s.name;
    const r = s.round, live = r && r.phase !== "ended" && s.status !== "finished";
    // Before the first round (and between rounds) the join QR code fills the screen; during
    // a round it sits in a corner; once the mixer has finished there is nothing to join.
    document.body.classList.toggle("waiting", !live);
    document.body.classList.toggle("finished", s.status === "finished");
    document.getElementById("round-label").textContent = r ? "Round " + r.index + " of " + r.of : s.joined + " people joined";
    const phase = s.status === "finished" ? "Thank you!" : r ? PHASES[phaseOf(r)] : "Starting soon";
    document.getElementById("phase").textContent = phase;
    if (r && phaseOf(r) + r.index !== lastPhase) { if (lastPhase) chime(); lastPhase = phaseOf(r) + r.index; }
    const totals = document.getElementById("totals");
    totals.hidden = s.status !== "finished";
    const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");
    totals.textContent = plural(s.totals.conversations, "conversation") + " · " +
      plural(s.totals.connections, "new connection");
    page = 0; drawRows(); tick();
  }

  function drawRows() {
    rowsBox.replaceChildren();
    const rows = (state && state.rows) || [];
    for (const row of rows) {
      rowsBox.append(el("p", {}, el("span", { class: "t" }, row.table || "–"), " " + row.name +
        (row.partners.length ? " → " + row.partners.join(", ") : "")));
    }
    paginate();
  }

  function paginate() {
    const items = Array.from(rowsBox.children);
    items.forEach((n) => { n.hidden = false; });
    if (!items.length) { pager.textContent = ""; return; }
    const pages = []; let current = [];
    const limit = rowsBox.getBoundingClientRect().right;
    for (const item of items) {
      current.push(item);
      if (item.getBoundingClientRect().left > limit) { current.pop(); pages.push(current); current = [item]; }
    }
    pages.push(current);
    // Simpler and robust: split evenly by how many fit in the first page.
    const perPage = Math.max(1, pages[0].length);
    const count = Math.ceil(items.length / perPage);
    page = page % count;
    items.forEach((n, i) => { n.hidden = Math.floor(i / perPage) !== page; });
    pager.textContent = count > 1 ? "Page " + (page + 1) + " of " + count : "";
  }
  function nextPage() { page += 1; paginate(); }
  setInterval(nextPage, 8000);
  window.addEventListener("cg-next-page", nextPage); // lets tests turn pages without waiting

  // The server announces a round's start and end; the changeover turns into the talk here,
  // on the server's clock (with the chime).
  function phaseOf(r) {
    return r.phase === "changeover" && secondsUntil(r.phase_ends_at) <= 0 ? "talk" : r.phase;
  }

  function tick() {
    const r = state && state.round, clock = document.getElementById("countdown");
    if (!r || r.phase === "ended") { clock.textContent = ""; return; }
    if (r.phase !== "paused" && phaseOf(r) + r.index !== lastPhase) { show(state); return; }
    clock.textContent = r.phase === "paused" ? format(r.remaining_seconds)
      : format(secondsUntil(phaseOf(r) === "talk" ? r.ends_at : r.phase_ends_at));
  }
  setInterval(tick, 250);
  live(root.dataset.streamUrl, root.dataset.stateUrl, render);
})();
