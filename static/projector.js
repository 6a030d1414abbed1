/* The projector: the countdown in its own place, everyone → table and partner in columns as
   wide as the names need, one line each, pages that turn by themselves. */
"use strict";
(function () {
  const root = document.getElementById("projector");
  const { live, el, syncClock, secondsUntil, format } = window.CG;
  const rowsBox = document.getElementById("rows"), pager = document.getElementById("page");
  const PAGE_SECONDS = 10;
  // A room that needs more pages than this gets narrower columns (long names end in "…").
  const MOST_PAGES = 5;
  let state = null, page = 0, shownRound = null, lastPhase = "", audio = null, timer = null;
  const PHASES = { changeover: "Find your partner", talk: "Talk", paused: "Paused", ended: "Break" };
  const collator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });

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
    const r = s.round, running = r && r.phase !== "ended" && s.status !== "finished";
    const phase = s.status === "finished" ? "finished" : r ? phaseOf(r) : "waiting";
    // Before the first round (and between rounds) the join QR code fills the screen; during
    // a round it sits in a corner; once the mixer has finished there is nothing to join.
    document.body.className = "projector phase-" + phase + (running ? "" : " waiting") +
      (s.status === "finished" ? " finished" : "");
    document.getElementById("round-label").textContent = r ? "Round " + r.index + " of " + r.of
      : s.joined === 1 ? "1 person joined" : s.joined + " people joined";
    document.getElementById("phase").textContent = s.status === "finished" ? "Thank you!"
      : r ? PHASES[phaseOf(r)] : "Starting soon";
    if (r && phaseOf(r) + r.index !== lastPhase) { if (lastPhase) chime(); lastPhase = phaseOf(r) + r.index; }
    const totals = document.getElementById("totals");
    totals.hidden = s.status !== "finished";
    const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");
    totals.textContent = plural(s.totals.conversations, "conversation") + " · " +
      plural(s.totals.connections, "new connection");
    // A new round starts on page 1; an update within a round keeps the page on show.
    const round = r ? r.index : null;
    if (round !== shownRound) { page = 0; shownRound = round; }
    layout(); tick();
  }

  /* ---------------------------------------------------------------- rows and pages */

  /* A partner's name in full, as "Chloé O.", as "Chloé", or not at all: the most that keeps
     the room on as few pages as names and tables alone would. A name is never cut short. */
  const SHORTEN = [(n) => n, (n) => n.replace(/^(\S+)\s.*?(\S)\S*$/u, "$1 $2."),
    (n) => n.split(/\s+/)[0], null];
  function rowNode(row, mode) {
    const partners = SHORTEN[mode] ? row.partners.map(SHORTEN[mode]).join(", ") : "";
    return el("p", { "data-name": row.name, class: row.table ? "" : "out" },
      el("span", { class: "n" }, row.name), " ",
      el("span", { class: "t" }, row.table || "–"), " ",
      el("span", { class: "w" }, row.table ? (partners ? "with " + partners : "") : "sits out"));
  }
  function column(rows, mode, width) {
    const head = el("div", { class: "head", "aria-hidden": "true" }, el("span", {}, "Name"), " ",
      el("span", { class: "t" }, "Table"), " ", el("span", {}, SHORTEN[mode] ? "Meets" : ""));
    const col = el("div", { class: "col" }, head, ...rows.map((row) => rowNode(row, mode)));
    if (width) col.style.width = width + "px";
    return col;
  }

  let pages = [], mode = 0, columns = 1, perColumn = 1, each = 0;
  /* How many lines a column holds, how many columns fit side by side at the names' own width,
     and so how many pages: measured on the screen as it is. Text grows (up to half again)
     where the room is small enough to take it without another page. */
  function layout() {
    const rows = ((state && state.rows) || []).slice().sort((a, b) => collator.compare(a.name, b.name));
    rowsBox.style.fontSize = "";
    if (!rows.length || document.body.classList.contains("waiting")) {
      rowsBox.replaceChildren(); pages = []; drawPager(); return;
    }
    const base = parseFloat(getComputedStyle(rowsBox).fontSize);
    let best = null;
    for (const scale of [1, 1.15, 1.3, 1.5]) {
      rowsBox.style.fontSize = base * scale + "px";
      const plan = measure(rows);
      if (best && (plan.pages > best.pages || plan.mode > best.mode)) break;
      best = plan;
    }
    rowsBox.style.fontSize = best.fontSize + "px";
    ({ mode, columns, perColumn, each } = best);
    rowsBox.style.gridTemplateColumns = "repeat(" + columns + ", max-content)";
    pages = [];
    for (let i = 0; i < rows.length; i += perColumn * columns) pages.push(rows.slice(i, i + perColumn * columns));
    page = page % pages.length;
    drawPage();
  }

  function measure(rows) {
    const style = getComputedStyle(rowsBox);
    const gap = parseFloat(style.columnGap) || 0, step = 2 * gap + 2; // gap, rule, padding
    rowsBox.replaceChildren();
    const width = rowsBox.clientWidth, height = rowsBox.clientHeight;
    // The natural width of a column of everyone, with partners' full names and first names.
    const natural = (m) => {
      const probe = column(rows, m);
      probe.style.cssText = "position:absolute;visibility:hidden;grid-template-columns:max-content max-content max-content";
      rowsBox.append(probe);
      const size = { width: Math.ceil(probe.getBoundingClientRect().width) + 1,
        head: probe.firstChild.getBoundingClientRect().height,
        line: probe.querySelector("p").getBoundingClientRect().height };
      probe.remove();
      return size;
    };
    const sizes = SHORTEN.map((_, m) => natural(m));
    const perCol = Math.max(1, Math.floor((height - sizes[0].head) / sizes[0].line));
    const fit = (w) => Math.max(1, Math.floor((width + step) / (w + step)));
    const count = (cols) => Math.ceil(rows.length / (perCol * cols));
    const fewest = count(fit(sizes[sizes.length - 1].width));
    let chosen = sizes.findIndex((size) => count(fit(size.width)) <= fewest);
    let cols = fit(sizes[chosen].width);
    // Still too many pages: names and tables alone, in narrower columns if need be (the
    // longest names then end in "…") rather than more pages.
    const least = Math.ceil(rows.length / (perCol * MOST_PAGES));
    if (least > cols) {
      chosen = sizes.length - 1;
      cols = Math.max(fit(sizes[chosen].width), Math.min(least, fit(parseFloat(style.fontSize) * 11)));
    }
    const wanted = sizes[chosen].width;
    // Fewer columns when everyone fits in fewer.
    cols = Math.min(cols, Math.ceil(rows.length / perCol));
    return { fontSize: parseFloat(style.fontSize), mode: chosen, columns: cols, perColumn: perCol,
      each: Math.floor(Math.min(wanted, (width - (cols - 1) * step) / cols)),
      pages: Math.ceil(rows.length / (perCol * cols)) };
  }

  function drawPage() {
    const rows = pages[page] || [];
    // Balanced columns: the last page's names spread evenly, never one long and one short.
    const tall = Math.ceil(rows.length / Math.min(columns, Math.ceil(rows.length / perColumn) || 1));
    const cols = [];
    for (let i = 0; i < rows.length; i += tall) cols.push(column(rows.slice(i, i + tall), mode, each));
    rowsBox.replaceChildren(...cols);
    drawPager();
  }

  function drawPager() {
    if (!pages.length) { pager.replaceChildren(); return; }
    const people = pages.reduce((n, p) => n + p.length, 0);
    const parts = [el("span", { class: "of" }, "Page " + (page + 1) + " of " + pages.length), " ",
      el("span", { class: "count" }, people === 1 ? "1 person" : people + " people")];
    if (pages.length > 1) {
      const bar = el("i", { style: "--page-seconds:" + PAGE_SECONDS + "s;--page-share:" + ((page + 1) / pages.length) });
      parts.push(el("span", { class: "progress", "aria-hidden": "true" }, bar));
    }
    pager.replaceChildren(...parts);
  }

  function nextPage() {
    if (pages.length < 2) return;
    page = (page + 1) % pages.length; drawPage();
  }
  function restartTimer() { clearInterval(timer); timer = setInterval(nextPage, PAGE_SECONDS * 1000); }
  restartTimer();
  window.addEventListener("cg-next-page", () => { nextPage(); restartTimer(); }); // lets tests turn pages
  let resizing = null;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(layout, 150); });

  // The server announces a round's start and end; the changeover turns into the talk here,
  // on the server's clock (with the chime).
  function phaseOf(r) {
    return r.phase === "changeover" && secondsUntil(r.phase_ends_at) <= 0 ? "talk" : r.phase;
  }

  function tick() {
    const r = state && state.round, clock = document.getElementById("countdown");
    if (!r || r.phase === "ended" || state.status === "finished") { clock.textContent = ""; return; }
    if (r.phase !== "paused" && phaseOf(r) + r.index !== lastPhase) { show(state); return; }
    clock.textContent = r.phase === "paused" ? format(r.remaining_seconds)
      : format(secondsUntil(phaseOf(r) === "talk" ? r.ends_at : r.phase_ends_at));
  }
  setInterval(tick, 250);
  live(root.dataset.streamUrl, root.dataset.stateUrl, render);
})();
