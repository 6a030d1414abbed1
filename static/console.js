/* The organiser console: roster, clock controls, preview, walk-ups, guest-list import,
   statistics and the end of the event; live. */
"use strict";
(function () {
  const root = document.getElementById("console");
  const id = root.dataset.event, base = "/api/v1/events/" + id;
  const { api, live, el, syncClock, secondsUntil, format } = window.CG;
  const message = document.getElementById("message");
  const $ = (elementId) => document.getElementById(elementId);
  let state = null;

  async function act(fn) {
    try { message.textContent = ""; await fn(); } catch (err) { message.textContent = err.message; }
  }

  /* The clipboard API needs a secure context, which a laptop on venue wifi (http://10.…)
     is not: fall back to a selected textarea, and say so if both fail. */
  async function copy(text) {
    try { await navigator.clipboard.writeText(text); return true; } catch (err) { /* below */ }
    const area = el("textarea", { readonly: "", class: "offscreen" });
    area.value = text; document.body.append(area); area.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (err) { done = false; }
    area.remove();
    return done;
  }
  function copyButton(name, link, status) {
    // The visible text starts the accessible name (voice control users say what they see).
    const button = el("button", { type: "button", class: "small-button", "aria-label": "Copy link for " + name }, "Copy link");
    button.addEventListener("click", async () => {
      status.textContent = (await copy(link)) ? "Copied the personal link for " + name + "."
        : "Copy " + name + "'s link by hand: " + link;
    });
    return button;
  }

  // Personal links never change, so the roster (from the live state) looks them up once.
  const links = new Map();
  let fetchingLinks = false;
  async function loadLinks(attendees) {
    if (fetchingLinks || attendees.every((a) => links.has(a.id))) return;
    fetchingLinks = true;
    let added = false;
    try {
      for (const a of await api("GET", base + "/attendees")) {
        if (!links.has(a.id)) added = true;
        links.set(a.id, a.link || null);
      }
    } catch (err) { /* the next state retries */ } finally { fetchingLinks = false; }
    if (added && state) renderRoster(state.attendees);
  }

  const STATES = { present: "Here", break: "On a break", registered: "Not arrived", left: "Left" };
  let filter = "all";
  const byName = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });
  const search = $("search");
  const folded = (text) => text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

  /* The filter buttons' counts, then the rows that match the filter and the search. */
  function renderRoster(attendees) {
    const counts = { all: attendees.length, present: 0, break: 0, registered: 0, left: 0 };
    for (const a of attendees) counts[a.presence] = (counts[a.presence] || 0) + 1;
    for (const b of document.querySelectorAll("[data-filter]")) {
      b.querySelector(".n").textContent = "(" + counts[b.dataset.filter] + ")";
      b.setAttribute("aria-pressed", String(b.dataset.filter === filter));
    }
    const wanted = folded(search.value.trim());
    const shown = attendees.slice().sort((a, b) => byName.compare(a.name, b.name)).filter((a) => (filter === "all" || a.presence === filter) &&
      (!wanted || folded(a.name + " " + a.organisation).includes(wanted)));
    const body = $("roster");
    // Re-rendering replaces the controls: keep the keyboard where it was.
    const focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.dataset.key : null;
    body.replaceChildren();
    for (const a of shown) {
      const box = el("input", { type: "checkbox", "aria-label": "Check in " + a.name, "data-key": "here:" + a.id });
      box.checked = a.presence === "present";
      box.addEventListener("change", () => act(() => api("PATCH", base + "/attendees/" + a.id,
        { presence: box.checked ? "present" : "registered" })));
      const link = links.get(a.id);
      let cell = link === undefined ? "…" : el("span", { class: "small" }, "own phone");
      if (link) {
        cell = copyButton(a.name, link, $("roster-message"));
        cell.dataset.key = "copy:" + a.id;
      }
      const who = el("td", {}, a.name);
      if (a.organisation) who.append(el("span", { class: "org" }, a.organisation));
      body.append(el("tr", { class: a.presence }, who, el("td", { class: "state" }, STATES[a.presence] || a.presence),
        el("td", {}, box), el("td", {}, cell)));
    }
    const empty = $("roster-empty");
    empty.hidden = shown.length > 0;
    empty.textContent = attendees.length === 0 ? "Nobody has joined yet: share the join code, or add people here."
      : "Nobody matches" + (wanted ? " “" + search.value.trim() + "”" : "") + (filter !== "all" ? " among people who are " + STATES[filter].toLowerCase() : "") + ".";
    if (focused) {
      const again = body.querySelector('[data-key="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }
  search.addEventListener("input", () => { if (state) renderRoster(state.attendees); });
  for (const b of document.querySelectorAll("[data-filter]")) {
    b.addEventListener("click", () => { filter = b.dataset.filter; if (state) renderRoster(state.attendees); });
  }

  /* The tools open one at a time, as tabs, on a laptop; on a phone they all show, one below
     the other. */
  for (const tab of document.querySelectorAll("[data-panel]")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll("[data-panel]")) {
        const open = other === tab;
        other.setAttribute("aria-expanded", String(open));
        $(other.dataset.panel).classList.toggle("open", open);
      }
    });
  }

  function day(iso) {
    return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
  }

  function render(s) {
    const before = state;
    state = s; syncClock(s.server_time);
    const e = s.event;
    $("event-name").textContent = e.name;
    $("summary").textContent = e.status + " · " + e.counts.present + " here, " +
      e.counts.on_break + " on a break, " + e.counts.joined + " joined" +
      (e.current_round ? " · round " + e.current_round + " of " + e.rounds : " · " + e.rounds + " rounds");
    $("auto").checked = e.auto_advance;
    showSeries(e.series_id);
    renderLive(s.live);
    $("count").textContent = "(" + s.attendees.length + ")";
    renderRoster(s.attendees);
    loadLinks(s.attendees);
    $("retention").textContent = e.purged_at ? "Personal data was deleted on " + day(e.purged_at) + "."
      : e.purge_due_at ? "Personal data will be deleted on " + day(e.purge_due_at) + "." : "";
    $("finish").disabled = e.status === "finished";
    showActions(s);
    const key = [e.status, e.current_round, s.round && s.round.clock.phase === "ended", e.counts.present].join();
    if (!before || key !== previewKey) { previewKey = key; if (canPreview(s)) schedulePreview(); else clearPreview(s); }
    $("purge").disabled = Boolean(e.purged_at);
    if (!before || before.event.status !== e.status || before.event.current_round !== e.current_round) {
      loadStats();
    }
    tick();
  }

  /* Phones with a live page open, and a warning when the server nears its open-file limit:
     phones beyond it are refused a live stream and read their page every few seconds. */
  function renderLive(live) {
    const line = $("live-phones"), warning = $("near-limit");
    if (!live) { line.textContent = ""; warning.hidden = true; return; }
    line.textContent = "Live phones: " + live.phones.toLocaleString() +
      (live.phones_on_server !== live.phones ? " (" + live.phones_on_server.toLocaleString() + " on this server)" : "") +
      " · room for about " + live.capacity.toLocaleString() + ".";
    warning.hidden = !live.near_limit;
    warning.textContent = live.near_limit ? "The server is near its limit of open files: more phones " +
      "now update every few seconds instead of at once (nothing is lost). To make room, stop the " +
      "server, raise the limit (ulimit -n 65536 in its terminal) and start it again: phones " +
      "reconnect by themselves." : "";
  }

  /* Only the actions that apply now: start when no round runs, pause while one runs,
     resume while paused, more time or the end while a round is on. */
  function showActions(s) {
    const e = s.event, c = s.round && s.round.clock;
    const on = Boolean(c) && c.phase !== "ended" && e.status !== "finished";
    const next = (e.current_round || 0) + 1;
    const start = $("start");
    start.hidden = on || e.status === "finished" || next > e.rounds;
    start.textContent = "Start round " + next;
    const show = (action, visible) => { document.querySelector('[data-clock="' + action + '"]').hidden = !visible; };
    show("pause", on && c.phase !== "paused");
    show("resume", on && c.phase === "paused");
    show("extend", on);
    show("end_round", on);
    $("clock-hint").textContent = e.status === "finished" ? "The event has finished."
      : on ? "" : next > e.rounds ? "All " + e.rounds + " rounds are over: end the event under “After the event”."
      : e.counts.present === 0 ? "Nobody is checked in yet: tick people in as they arrive."
      : "Round " + next + " pairs the " + e.counts.present + " people here.";
  }

  const PHASE_WORDS = { changeover: "changeover", talk: "talk", paused: "paused", ended: "ended" };
  function tick() {
    const r = state && state.round, clock = $("clock");
    const phase = clock.querySelector(".phase"), time = clock.querySelector(".time");
    if (!r) { phase.textContent = "Not started"; time.textContent = ""; clock.className = ""; return; }
    const c = r.clock;
    let left = c.phase === "paused" ? c.remaining_seconds : secondsUntil(c.phase_ends_at);
    let name = c.phase;
    // The changeover turns into the talk on the server's clock, before the next update.
    if (name === "changeover" && left !== null && left <= 0) { name = "talk"; left = secondsUntil(c.ends_at); }
    clock.className = name;
    phase.textContent = "Round " + c.index + " · " + PHASE_WORDS[name];
    time.textContent = name === "ended" ? "" : format(left);
  }
  setInterval(tick, 250);

  $("start").addEventListener("click", () => act(async () => {
    const next = (state.event.current_round || 0) + 1;
    await api("POST", base + "/rounds", { expected_index: next });
  }));
  for (const b of document.querySelectorAll("[data-clock]")) {
    b.addEventListener("click", () => act(() => api("POST", base + "/clock", { action: b.dataset.clock, seconds: 60 })));
  }
  $("auto").addEventListener("change", (e) =>
    act(() => api("PATCH", base, { auto_advance: e.target.checked })));
  /* ---------------------------------------------------------------- the next round */

  let previewKey = "", previewTimer = null, previewing = 0;
  function canPreview(s) {
    return s.event.status !== "finished" && (s.event.current_round || 0) < s.event.rounds;
  }
  function clearPreview(s) {
    $("preview").hidden = !canPreview(s);
    $("preview-body").replaceChildren(el("p", { class: "small" }, s.event.status === "finished"
      ? "The event has finished." : "All rounds have been drawn."));
  }
  function schedulePreview() {
    $("preview").hidden = false;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => loadPreview().catch((err) => {
      $("preview-body").replaceChildren(el("p", { class: "small" }, "No preview yet: " + err.message));
    }), 400);
  }
  const names = (members) => members.map((m) => m.name).join(", ");
  function figure(label, value) {
    return el("div", {}, el("dt", {}, label), el("dd", {}, String(value)));
  }
  async function loadPreview() {
    const mine = ++previewing;
    const p = await api("GET", base + "/rounds/preview");
    if (mine !== previewing) return;
    const q = p.quality, box = $("preview-body");
    const fairness = q.least_lucky
      ? "Least lucky so far: " + q.least_lucky.name + ", " + Math.round(q.least_share * 100) + "% of their best possible"
      : "Least lucky so far: nobody is behind (" + Math.round(q.least_share * 100) + "% of the best possible)";
    const parts = [
      el("p", { class: "phase-line" }, "Round " + p.index + ": " + q.groups + " tables"),
      el("dl", { class: "figures" },
        figure("Mean common ground", q.mean_common_ground),
        figure("With nothing in common", q.groups_without_common_ground),
        figure("Repeat meetings", q.repeats),
        figure("Least lucky", q.least_lucky ? Math.round(q.least_share * 100) + "%" : "—")),
      el("p", { class: "fairness" }, fairness + "; most meetings with nothing in common: " + q.most_empty + "."),
    ];
    if (q.odd_group.length) parts.push(el("p", {}, "Odd table: " + names(q.odd_group) + "."));
    if (q.sitting_out.length) parts.push(el("p", {}, "Sitting out: " + names(q.sitting_out) + "."));
    box.replaceChildren(...parts);
  }
  $("preview").addEventListener("click", () => act(loadPreview));
  $("walkup").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    act(async () => { await api("POST", base + "/attendees", { name: form.get("name"), organisation: form.get("organisation") || "" });
      e.target.reset(); });
  });

  /* ---------------------------------------------------------------- guest-list import */

  const TARGETS = [["ignore", "Ignore (not imported)"], ["name", "Name"], ["first_name", "First name"],
    ["last_name", "Last name"], ["email", "Email"], ["organisation", "Organisation"],
    ["phone", "Phone"], ["url", "Website or LinkedIn"], ["series_link", "Personal series link"]];
  const fileInput = $("import-file"), importGo = $("import-go"), importStatus = $("import-status");
  // The chosen file, the columns and what the server recognised in them; the selects hold
  // the organiser's corrections and survive every error.
  let upload = null, checking = 0;
  // What the organiser chose for a column, carried over when they fix the file and choose
  // it again.
  const chosen = new Map();

  /* The first records of a CSV text (quotes, doubled quotes, newlines inside quotes), with
     the server's choice of delimiter. Only for the column names and an example value. */
  function firstRecords(text, wanted) {
    text = text.replace(/^\ufeff/, "");
    const line = text.split("\n", 1)[0];
    const delimiter = (line.split(";").length > line.split(",").length) ? ";" : ",";
    const records = []; let record = [], cell = "", quoted = false;
    for (let i = 0; i < text.length && records.length < wanted; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
        else if (ch === '"') quoted = false; else cell += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === delimiter) { record.push(cell); cell = ""; }
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i++;
        record.push(cell); records.push(record); record = []; cell = "";
      } else cell += ch;
    }
    if (records.length < wanted && (cell || record.length)) { record.push(cell); records.push(record); }
    return records;
  }

  async function send(params, body) {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(base + "/attendees/import?" + query, {
      method: "POST", credentials: "same-origin", body,
      headers: { "Content-Type": "text/csv", "X-CSRF": "1" },
    });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    return { status: response.status, ok: response.ok, data };
  }
  function detailText(result) {
    const detail = result.data && result.data.detail;
    if (typeof detail === "string") return detail;
    if (result.status === 413) return "The file is too large.";
    return "Something went wrong (" + result.status + ")";
  }

  function targetSelect(index, column, detected, example) {
    const select = el("select", { id: "map-" + index, "data-column": column });
    for (const [value, label] of TARGETS) select.append(el("option", { value }, label));
    const questions = (state && state.event.questions) || [];
    if (questions.length) {
      const group = el("optgroup", { label: "Answers to a question" });
      for (const q of questions) group.append(el("option", { value: "answers:" + q.key }, q.label));
      select.append(group);
    }
    const wanted = chosen.has(column) ? chosen.get(column) : detected;
    select.value = wanted;
    if (select.value !== wanted) { // a question the page has not loaded yet
      select.append(el("option", { value: wanted }, wanted.replace(/^answers:/, "Answers: ")));
      select.value = wanted;
    }
    select.addEventListener("change", () => { chosen.set(column, select.value); check(); });
    const row = el("div", { class: "mapping-row" },
      el("label", { for: "map-" + index }, column || "(unnamed column)"), select);
    if (example) {
      const hint = el("p", { class: "small", id: "map-" + index + "-example" }, "e.g. " + example);
      select.setAttribute("aria-describedby", hint.id);
      row.append(hint);
    }
    return row;
  }

  function corrections() {
    const changed = {};
    for (const select of $("import-columns").querySelectorAll("select")) {
      const column = select.dataset.column;
      if (select.value !== upload.detected[column]) changed[column] = select.value;
    }
    return changed;
  }
  function params(dryRun) {
    const p = {}, changed = corrections();
    if (Object.keys(changed).length) p.mapping = JSON.stringify(changed);
    if (dryRun) p.dry_run = "true";
    return p;
  }

  function showRowErrors(rows) {
    const list = el("ul", { class: "row-errors" });
    for (const row of rows) {
      const field = String(row.field || "").replace(/^contact\./, "");
      const reason = String(row.msg || "").replace(/^Value error, /, "");
      list.append(el("li", {}, "Line " + row.line + (field ? ", " + field : "") + ": " + reason));
    }
    importStatus.replaceChildren(
      el("p", { class: "alert" }, rows.length === 1 ? "1 row needs fixing; nothing was imported."
        : rows.length + " rows need fixing; nothing was imported."),
      list,
      el("p", { class: "small" }, "Correct the file and choose it again, or change what a column holds."));
  }
  function showProblem(text) {
    importStatus.replaceChildren(el("p", { class: "alert" }, text));
  }

  /* The whole file as a dry run with the current mapping: the row count, or every bad row. */
  async function check() {
    if (!upload) return;
    const mine = ++checking;
    importGo.hidden = true;
    importStatus.replaceChildren(el("p", {}, "Checking " + upload.name + "…"));
    let result;
    try { result = await send(params(true), upload.bytes); } catch (err) {
      if (mine === checking) showProblem("Could not reach the server: " + err.message);
      return;
    }
    if (mine !== checking) return; // a newer check is under way
    if (result.ok) {
      const n = result.data.rows;
      importStatus.replaceChildren(el("p", {}, n === 0 ? "The file has no one in it."
        : (n === 1 ? "1 person" : n + " people") + " in " + upload.name + ", ready to import."));
      importGo.textContent = "Import " + (n === 1 ? "1 person" : n + " people");
      importGo.hidden = n === 0;
    } else if (result.status === 422 && Array.isArray(result.data && result.data.detail)
               && result.data.detail.length && "line" in result.data.detail[0]) {
      showRowErrors(result.data.detail);
    } else {
      showProblem(detailText(result));
    }
  }

  /* What the server recognises in the header line alone, so that a file with bad rows still
     gets its columns mapped. When no column reads as the name, ask again calling one column
     the name (and once more calling another, for that first column's own reading). */
  async function detect(headerLine, names) {
    const probe = await send({ dry_run: "true" }, headerLine);
    if (probe.ok) return { columns: probe.data.columns, mapping: probe.data.mapping, noName: false };
    const problem = detailText(probe);
    if (!problem.startsWith("mapping:") || !names.length) throw new Error(problem);
    const asName = (column) => send({ dry_run: "true", mapping: JSON.stringify({ [column]: "name" }) }, headerLine);
    const first = await asName(names[0]);
    if (!first.ok) throw new Error(detailText(first));
    const mapping = { ...first.data.mapping, [names[0]]: "ignore" };
    if (names.length > 1) {
      const second = await asName(names[1]);
      if (second.ok) mapping[names[0]] = second.data.mapping[names[0]];
    }
    return { columns: first.data.columns, mapping, noName: true };
  }

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    $("import-done").replaceChildren();
    upload = null; const mine = ++checking;
    importGo.hidden = true; $("import-mapping").hidden = true; $("import-columns").replaceChildren();
    if (!file) { importStatus.replaceChildren(); return; }
    importStatus.replaceChildren(el("p", {}, "Reading " + file.name + "…"));
    const bytes = await file.arrayBuffer();
    const text = new TextDecoder().decode(bytes).replace(/^\ufeff/, "");
    const records = firstRecords(text, 2);
    const names = (records[0] || []).map((c) => c.trim()), example = records[1] || [];
    let found;
    try { found = await detect(text.split(/\r?\n/, 1)[0] + "\n", names); } catch (err) {
      if (mine === checking) showProblem(err.message);
      return;
    }
    if (mine !== checking) return; // another file was chosen meanwhile
    upload = { name: file.name, bytes, detected: found.mapping };
    $("import-columns").replaceChildren(...found.columns.map((column, i) =>
      targetSelect(i, column, found.mapping[column] || "ignore", (example[names.indexOf(column)] || "").trim())));
    $("import-mapping").hidden = false;
    const values = [...$("import-columns").querySelectorAll("select")].map((select) => select.value);
    if (found.noName && !values.includes("name") && !values.includes("first_name")) {
      showProblem("No column was recognised as the name: choose the column that holds it below.");
      return;
    }
    await check();
  });

  $("import-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!upload || importGo.hidden) return;
    importGo.disabled = true;
    let result;
    try { result = await send(params(false), upload.bytes); } catch (err) {
      importGo.disabled = false; showProblem("Could not reach the server: " + err.message); return;
    }
    importGo.disabled = false;
    if (!result.ok) {
      if (result.status === 422 && Array.isArray(result.data && result.data.detail)
          && result.data.detail.length && "line" in result.data.detail[0]) showRowErrors(result.data.detail);
      else showProblem(detailText(result));
      return;
    }
    const people = result.data.attendees, done = $("import-done");
    const status = el("p", { role: "status" });
    const list = el("ul", { class: "imported" });
    for (const p of people) {
      list.append(el("li", {}, el("strong", {}, p.name), " ", el("code", {}, p.link), " ",
        copyButton(p.name, p.link, status)));
      links.set(p.attendee_id, p.link);
    }
    done.replaceChildren(
      el("h3", {}, "Imported " + (people.length === 1 ? "1 person" : people.length + " people")),
      el("p", {}, "Send each person their personal link (it opens their page, no sign-up). ",
        el("a", { href: base + "/export/links.csv", download: "" }, "Download links (CSV)")),
      list, status);
    upload = null; checking++;
    fileInput.value = "";
    importGo.hidden = true; $("import-mapping").hidden = true; $("import-columns").replaceChildren();
    importStatus.replaceChildren();
    if (state) renderRoster(state.attendees);
  });

  /* ---------------------------------------------------------------- after the event */

  const afterMessage = $("after-message");
  const percent = (share) => Math.round(share * 100) + "%";
  function statsRow(label, figures, header) {
    return el("tr", {}, el(header ? "th" : "td", header ? { scope: "row" } : {}, label),
      el("td", {}, String(figures.conversations)), el("td", {}, String(figures.mutual_connections)),
      el("td", {}, figures.pairs_with_common_ground + " (" + percent(figures.share_with_common_ground) + ")"));
  }
  async function loadStats() {
    const note = $("stats-note"), table = $("stats");
    let stats;
    try { stats = await api("GET", base + "/stats"); } catch (err) {
      table.hidden = true; note.textContent = "Statistics are not available: " + err.message; return;
    }
    $("stats-rounds").replaceChildren(...stats.rounds.map((r) => statsRow(String(r.index), r, false)));
    $("stats-totals").replaceChildren(statsRow("All rounds", stats.totals, true));
    table.hidden = stats.rounds.length === 0;
    note.textContent = stats.rounds.length === 0 ? "Statistics appear here once the first round has run."
      : stats.purged_at ? "Figures kept after the personal data was deleted on " + day(stats.purged_at) + "." : "";
    const n = stats.network, back = stats.returning;
    $("network-figures").textContent = (n && n.meetings ? "Network: " + n.people + " people, " + n.meetings +
      " meetings; each met people of " + n.organisations_reached_mean + " other organisations on average; " +
      n.bridges_between_organisations + " bridges between organisations; " +
      percent(n.share_of_connections_across_organisations) + " of mutual connections cross organisations. " : "") +
      (back && back.returning ? back.returning + " returning, " + back.only_new_faces + " of them met only new faces." : "");
  }
  $("stats-refresh").addEventListener("click", loadStats);

  function showSeries(seriesId) {
    if (!seriesId) return;
    $("series-page").href = "/series/" + encodeURIComponent(seriesId);
    $("series-link").hidden = false;
  }
  $("next-event").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = new FormData(e.target), body = {};
    if (form.get("name")) body.name = form.get("name");
    if (form.get("starts_at")) body.starts_at = new Date(form.get("starts_at")).toISOString();
    act(async () => {
      const made = await api("POST", base + "/next", body);
      showSeries(made.series_id);
      // Shown once, like after creating an event: the organiser keeps these links.
      $("next-created").replaceChildren(el("p", {}, "Created. Keep the new organiser link: it is shown only now."),
        el("ul", {}, el("li", {}, el("a", { href: made.links.organiser }, "Console of the next mixer")),
          el("li", {}, el("a", { href: made.links.projector }, "Its projector view")),
          el("li", {}, "Its join link: " + made.links.join)));
    });
  });

  $("finish").addEventListener("click", async () => {
    if (!confirm("End the event now? The current round ends, and no more rounds start or people join.")) return;
    afterMessage.textContent = "";
    try { await api("POST", base + "/finish"); afterMessage.textContent = "The event has ended."; }
    catch (err) { afterMessage.textContent = err.message; }
  });
  $("purge").addEventListener("click", async () => {
    if (!confirm("Delete everyone's personal data now? Names, answers, contact details and " +
                 "personal links are deleted for good; only the statistics remain. " +
                 "This cannot be undone.")) return;
    afterMessage.textContent = "";
    try {
      const done = await api("POST", base + "/purge");
      afterMessage.textContent = "Deleted the personal data of " + (done.attendees_removed === 1
        ? "1 person" : done.attendees_removed + " people") + ".";
      loadStats();
    } catch (err) { afterMessage.textContent = err.message; }
  });

  live(root.dataset.streamUrl, root.dataset.stateUrl, render);
})();
