/* The attendee's page: one big card for the current round, live. */
"use strict";
(function () {
  const root = document.getElementById("me");
  const { api, live, el, syncClock, secondsUntil, format } = window.CG;
  const status = document.getElementById("status"), card = document.getElementById("card");
  const countdown = document.getElementById("countdown"), actions = document.getElementById("actions");
  let state = null, lastAnnounced = "";

  function button(label, handler, cls) {
    const b = el("button", { type: "button", class: cls || "" }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { render(await handler()); } catch (err) { status.textContent = err.message; }
      finally { b.disabled = false; }
    });
    return b;
  }

  function render(s) {
    state = s; syncClock(s.server_time); fillSharing(s.attendee);
    const r = s.round, me = s.attendee;
    card.replaceChildren(); actions.replaceChildren();
    if (s.event.status === "finished") {
      status.textContent = s.event.name + " has finished. Thank you!";
    } else if (!r || r.phase === "ended") {
      status.textContent = "You're in, " + me.name + ". " + (s.event.present === 1 ? "1 person is here." : s.event.present + " people are here.");
    } else {
      status.textContent = s.event.name;
    }
    if (r && r.phase !== "ended" && s.event.status !== "finished") {
      const head = "Round " + r.index + " of " + r.of;
      if (r.sitting_out || !r.table) {
        card.append(el("p", { class: "table" }, "Take a breather"),
          el("p", {}, head + ": you sit this one out; you'll be first in line next round."));
      } else {
        card.append(el("p", {}, head + (r.phase === "changeover" ? " · go to" : " · at")),
          el("p", { class: "table" }, "Table " + r.table));
        for (const p of r.partners) {
          card.append(el("p", { class: "partner" }, "Meet " + p.name + (p.organisation ? " (" + p.organisation + ")" : "")));
          if (p.common_ground.length) {
            card.append(el("ul", {}, ...p.common_ground.map((c) => el("li", {}, c))));
          } else {
            card.append(el("p", {}, "Something new for both of you."));
          }
        }
      }
      const announce = head + " table " + (r.table || "none");
      if (announce !== lastAnnounced) { lastAnnounced = announce; }
      actions.append(
        button("My partner isn't here", () => api("POST", "/api/v1/me/report", { kind: "partner_absent" })),
        button("We already know each other", () => api("POST", "/api/v1/me/report", { kind: "already_know" })));
    }
    if (s.event.status === "finished") {
      // Nothing left to skip: no presence buttons.
    } else if (me.presence === "present") {
      actions.append(button("Taking a break", () => api("POST", "/api/v1/me/presence", { state: "break" })),
        button("I'm leaving", () => api("POST", "/api/v1/me/presence", { state: "left" })));
    } else {
      actions.append(button("I'm here", () => api("POST", "/api/v1/me/presence", { state: "present" }), "primary"));
    }
    renderMet(s);
    tick();
  }

  function renderMet(s) {
    const met = document.getElementById("met"), links = document.getElementById("connections");
    met.replaceChildren(); links.replaceChildren();
    if (s.met.length) {
      met.append(el("h2", {}, "People you met"));
      const list = el("ul", { class: "met" });
      for (const m of s.met) {
        const item = el("li", {}, m.name + (m.organisation ? " (" + m.organisation + ")" : "") + " · round " + m.round + " ");
        item.append(button(m.interested ? "Stay in touch ✓" : "Stay in touch?",
          () => api("POST", "/api/v1/me/interest", { attendee_id: m.attendee_id, interested: !m.interested })));
        list.append(item);
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

  function tick() {
    const r = state && state.round;
    if (!r || r.phase === "ended") { countdown.textContent = ""; return; }
    if (r.phase === "paused") { countdown.textContent = "Paused " + format(r.remaining_seconds); return; }
    countdown.textContent = (r.phase === "changeover" ? "Find your table " : "") + format(secondsUntil(r.phase_ends_at));
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
  }
  sharing.addEventListener("submit", async (event) => {
    event.preventDefault();
    const contact = {};
    for (const field of ["email", "phone", "url"]) {
      const value = sharing.elements[field].value.trim();
      if (value) contact[field] = value;
    }
    const share = [...sharing.querySelectorAll("input[name=share]:checked")].map((b) => b.value);
    sharingStatus.textContent = "Saving…";
    try {
      const saved = await api("PATCH", "/api/v1/me", { contact, share });
      sharingStatus.textContent = "Saved. You share: " + (saved.attendee.share.join(", ") || "nothing") + ".";
    } catch (err) { sharingStatus.textContent = err.message; }
  });
  setInterval(tick, 250);
  document.getElementById("delete-me").addEventListener("click", async () => {
    if (!confirm("Delete your profile and contact details from this event?")) return;
    await api("DELETE", "/api/v1/me"); window.location.href = "/";
  });
  live(root.dataset.streamUrl, root.dataset.stateUrl, render);
})();
