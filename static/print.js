/* The print pages: times in the venue's local time (the printing laptop is there), the
   Print button, and fixing the plan of the remaining rounds. */
"use strict";
(function () {
  const clock = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
  let local = false;
  for (const t of document.querySelectorAll("time[datetime]")) {
    const when = new Date(t.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) { t.textContent = clock.format(when); local = true; }
  }
  const note = document.getElementById("time-note");
  if (note && local) note.textContent = "Times are in this computer's local time.";

  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());

  const fix = document.getElementById("fix-plan"), message = document.getElementById("print-message");
  if (fix) fix.addEventListener("click", async () => {
    fix.disabled = true;
    message.textContent = "Planning the remaining rounds…";
    try {
      const response = await fetch(fix.dataset.url, {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF": "1" },
      });
      if (!response.ok) {
        let detail = null;
        try { detail = (await response.json()).detail; } catch (e) { detail = null; }
        throw new Error(typeof detail === "string" ? detail : "Could not fix the plan (" + response.status + ")");
      }
      window.location.reload();
    } catch (err) {
      message.textContent = err.message;
      fix.disabled = false;
    }
  });
})();
