/* The attendee's page: one big card for the current round, live. */
"use strict";
(function () {
  const root = document.getElementById("me");
  const { api, live, el, syncClock, secondsUntil, format } = window.CG;
  const status = document.getElementById("status"), card = document.getElementById("card");
  const countdown = document.getElementById("countdown"), actions = document.getElementById("actions");
  const whoseName = document.getElementById("whose-name"), whoseEvent = document.getElementById("whose-event");
  const link = document.getElementById("link");
  let state = null, shownPhase = "";
  const AWAY = {
    break: "You're on a break. Tap “I'm here” when you're back.",
    left: "You've left the mixer. Tap “I'm here” if you're back.",
    registered: "Tap “I'm here” when you arrive.",
  };

  function button(text, handler, cls) {
    const b = el("button", { type: "button", class: cls || "" }, text);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { render(await handler()); } catch (err) { status.textContent = err.message; }
      finally { b.disabled = false; }
    });
    return b;
  }

  function render(s) { syncClock(s.server_time); show(s); }

  const now = document.getElementById("now"), label = document.getElementById("countdown-label");
  function partnerLine(p, verb) {
    const line = el("p", { class: "partner" }, (verb || "Meet") + " " + p.name);
    if (p.organisation) line.append(el("span", { class: "org" }, p.organisation));
    return line;
  }
  function commonGround(p) {
    return p.common_ground.length
      ? el("ul", { class: "chips", "aria-label": "What you share" }, ...p.common_ground.map((c) => el("li", {}, c)))
      : el("p", {}, "Something new for both of you.");
  }
  function stayButton(m) {
    return button(m.interested ? "Stay in touch ✓" : "Stay in touch?",
      () => api("POST", "/api/v1/me/interest", { attendee_id: m.attendee_id, interested: !m.interested }),
      m.interested ? "stay-yes" : "");
  }

  // Draws a state; also when the talk begins or ends, between the server's updates (no clock
  // sync: the state's server_time is old by then).
  function show(s) {
    state = s; fillSharing(s.attendee);
    const r = s.round, me = s.attendee, finished = s.event.status === "finished";
    // Whose page this is, on every screen.
    whoseName.textContent = me.name; whoseEvent.textContent = s.event.name;
    document.title = me.name + " · " + s.event.name;
    card.replaceChildren(); actions.replaceChildren();
    const phase = r ? phaseOf(r) : "";
    if (finished) {
      status.textContent = s.event.name + " has finished. Thank you!";
    } else if (me.presence !== "present") {
      status.textContent = AWAY[me.presence] || AWAY.registered;
    } else if (!r || phase === "ended") {
      status.textContent = "You're in, " + me.name + ". " + (s.event.present === 1 ? "1 person is here." : s.event.present + " people are here.");
    } else {
      status.textContent = "";
    }
    now.className = "now " + (phase === "ended" ? "over" : phase);
    if (r && phase !== "ended" && !finished) {
      const head = "Round " + r.index + " of " + r.of;
      if (!seated(r)) {
        // Sitting out (or not in this round): no partner, no table to find, only when
        // the next round starts.
        const why = me.presence !== "present" ? "You're not in this round."
          : r.sitting_out ? "You sit this round out; you'll be first in line next round."
          : "This round started before you came; you'll be in the next one.";
        now.className = "now";
        card.append(el("p", { class: "head" }, head), el("p", { class: "table rest" }, "Take a breather"),
          el("p", {}, why), el("p", { class: "next", id: "next-round" }, nextRound(r)));
      } else {
        card.append(el("p", { class: "head" }, head + (phase === "changeover" ? " · go to" : " · at")),
          el("p", { class: "table" }, "Table " + r.table));
        for (const p of r.partners) card.append(partnerLine(p), commonGround(p));
      }
      if (seated(r)) actions.append(
        button("My partner isn't here", () => api("POST", "/api/v1/me/report", { kind: "partner_absent" })),
        button("We already know each other", () => api("POST", "/api/v1/me/report", { kind: "already_know" })));
    } else if (r && phase === "ended" && !finished && seated(r)) {
      // The talk is over: now (and not before) ask whether to stay in touch.
      card.append(el("p", { class: "head" }, "Round " + r.index + " of " + r.of + " is over"));
      for (const p of r.partners) {
        const m = s.met.find((x) => x.attendee_id === p.attendee_id && x.round === r.index);
        card.append(partnerLine(p, "You met"));
        if (m) card.append(el("p", { class: "stay" }, stayButton(m)));
      }
      card.append(el("p", { class: "next" }, r.index >= r.of ? "That was the last round."
        : "Round " + (r.index + 1) + " starts soon: your next table shows here."));
    }
    now.hidden = card.childElementCount === 0;
    if (finished) {
      // Nothing left to skip: no presence buttons.
    } else if (me.presence === "present") {
      actions.append(button("Taking a break", () => api("POST", "/api/v1/me/presence", { state: "break" }), "half"),
        button("I'm leaving", () => api("POST", "/api/v1/me/presence", { state: "left" }), "half"));
    } else {
      actions.append(button("I'm here", () => api("POST", "/api/v1/me/presence", { state: "present" }), "primary"));
    }
    shownPhase = phase;
    renderMet(s, phase);
    tick();
  }

  /* People met in rounds whose talk is over: a meeting still under way (or not yet begun)
     is not offered "Stay in touch?" before anyone has talked. */
  function renderMet(s, phase) {
    const met = document.getElementById("met"), links = document.getElementById("connections");
    met.replaceChildren(); links.replaceChildren();
    const r = s.round, current = r && phase !== "ended" && s.event.status !== "finished" ? r.index : null;
    const done = s.met.filter((m) => m.round !== current).sort((a, b) => b.round - a.round);
    if (done.length) {
      met.append(el("h2", {}, "People you met"));
      const list = el("ul", { class: "met" });
      for (const m of done) {
        const who = el("span", { class: "who" }, m.name,
          el("span", { class: "small" }, (m.organisation ? m.organisation + " · " : "") + "round " + m.round));
        list.append(el("li", {}, who, stayButton(m)));
      }
      met.append(list);
    }
    if (s.connections.length) {
      links.append(el("h2", {}, "Your connections"));
      const list = el("ul", {});
      for (const c of s.connections) {
        const bits = [c.contact.email, c.contact.phone, c.contact.url].filter(Boolean).join(" · ");
        list.append(el("li", {}, c.name + (bits ? " — " + bits : "")));
      }
      links.append(list, el("p", {}, el("a", { href: "/api/v1/me/connections.vcf" },
        "Save your connections to your contacts (vCard)")));
    }
  }

  function seated(r) { return Boolean(r.table) && !r.sitting_out; }

  // The server announces a round's start and end; the changeover turns into the talk here,
  // and the talk ends, on the server's clock.
  function phaseOf(r) {
    if (r.phase === "talk" && r.ends_at && secondsUntil(r.ends_at) <= 0) return "ended";
    return r.phase === "changeover" && r.ends_at && secondsUntil(r.phase_ends_at) <= 0
      ? (secondsUntil(r.ends_at) <= 0 ? "ended" : "talk") : r.phase;
  }

  // When the next round starts: its time if it starts by itself, else after this one.
  function nextRound(r) {
    if (r.index >= r.of) return "This is the last round.";
    const next = "Round " + (r.index + 1) + " starts ";
    if (!r.next_starts_at) return next + "after this round.";
    const at = new Date(Date.parse(r.next_starts_at));
    return next + "at " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + ".";
  }

  function tick() {
    const r = state && state.round;
    const clear = () => { countdown.textContent = ""; label.textContent = ""; };
    if (!r || state.event.status === "finished") { clear(); return; }
    const phase = phaseOf(r);
    if (phase !== shownPhase) { show(state); return; }
    if (phase === "ended") { clear(); return; }
    if (!seated(r)) {
      // Counts down to the round's end (the server's clock), never to a table to find.
      const left = format(secondsUntil(r.ends_at));
      countdown.classList.add("later");
      if (r.phase === "paused" || !left) { label.textContent = "Paused"; countdown.textContent = ""; return; }
      label.textContent = r.index >= r.of ? "Ends in" : "Next round in";
      countdown.textContent = left;
      return;
    }
    countdown.classList.remove("later");
    if (r.phase === "paused") {
      label.textContent = "Paused"; countdown.textContent = format(r.remaining_seconds); return;
    }
    label.textContent = phase === "changeover" ? "Find your table" : "Talk · time left";
    countdown.textContent = phase === "changeover" ? format(secondsUntil(r.phase_ends_at))
      : format(secondsUntil(r.ends_at || r.phase_ends_at));
  }
  // The sharing form is filled from the first state only, so a live update never
  // overwrites what the attendee is typing.
  const sharing = document.getElementById("sharing"), sharingStatus = document.getElementById("sharing-status");
  let sharingFilled = false;
  function fillSharing(me) {
    if (sharingFilled) return;
    sharingFilled = true;
    for (const field of ["email", "phone", "url"]) {
      sharing.elements[field].value = me.contact[field] || "";
    }
    for (const box of sharing.querySelectorAll("input[name=share]")) { box.checked = me.share.includes(box.value); }
    sharing.elements.listed.checked = Boolean(me.listed);
    // Only someone the series remembers can untick it here (ticking needs a new join).
    sharing.elements.remember.checked = Boolean(me.remembered);
    document.getElementById("remember-box").hidden = !me.remembered;
  }
  sharing.addEventListener("submit", async (event) => {
    event.preventDefault();
    const contact = {};
    for (const field of ["email", "phone", "url"]) {
      const value = sharing.elements[field].value.trim();
      if (value) contact[field] = value;
    }
    const share = [...sharing.querySelectorAll("input[name=share]:checked")].map((b) => b.value);
    const body = { contact, share, listed: sharing.elements.listed.checked };
    const forget = !document.getElementById("remember-box").hidden && !sharing.elements.remember.checked;
    if (forget) body.remember = false;
    sharingStatus.textContent = "Saving…";
    try {
      const saved = await api("PATCH", "/api/v1/me", body);
      if (forget) document.getElementById("remember-box").hidden = true;
      sharingStatus.textContent = "Saved. You share: " + (saved.attendee.share.join(", ") || "nothing") +
        (saved.attendee.listed ? "; named in the organiser's map" : "") +
        (saved.attendee.remembered ? "; remembered by this series" : "") + ".";
    } catch (err) { sharingStatus.textContent = err.message; }
  });
  setInterval(tick, 250);
  document.getElementById("delete-me").addEventListener("click", async () => {
    if (!confirm("Delete your profile and contact details from this event?")) return;
    await api("DELETE", "/api/v1/me"); window.location.href = "/";
  });
  // Without wifi the page keeps its table and partner and says it is reconnecting; the
  // stream (or polling) catches up by itself when the wifi returns.
  live(root.dataset.streamUrl, root.dataset.stateUrl, render, (up) => {
    link.textContent = up ? "" : "Reconnecting… your table and partner stay as shown.";
  });
})();
