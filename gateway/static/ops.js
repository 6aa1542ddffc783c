/* /ops refreshes itself: the panel is re-fetched every few seconds and updated in place.
   Without JavaScript the page reloads itself (a <noscript> meta refresh).

   In place (kamflow.morph): elements that are still there stay the same elements, so the
   keyboard focus (a link, a Retry button) is never dropped and a screen reader is not sent back
   to the top; rows are matched by their key, so a focused Retry button never ends up on another
   account's row. */
(function () {
  "use strict";
  var panel = document.getElementById("ops-panel");
  if (!panel) return;
  var every = (parseInt(panel.dataset.every, 10) || 5) * 1000;
  var stamp = document.getElementById("ops-updated");
  var failure = document.getElementById("ops-refresh-error");
  var morph = window.kamflow.morph;  /* kamflow.js, loaded first */
  var busy = false;
  /* A person reading a row (or whose screen reader is on it) can pause the refresh (WCAG 2.2.2). */
  var pause = document.getElementById("ops-pause");
  var paused = false;
  if (pause) {
    pause.hidden = false;
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      if (!paused) refresh();
    });
  }

  /* One listener for every "are you sure" form, present or yet to come. */
  panel.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  function refresh() {
    if (busy || paused) return;
    busy = true;
    fetch(panel.dataset.url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        window.kamflow.sessionUsed();  /* a request: the session's idle clock started again */
        return response.text();
      })
      .then(function (html) {
        var fresh = document.createElement("div");
        fresh.innerHTML = html;
        morph(panel, fresh);
        if (stamp) stamp.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
        if (failure && failure.textContent) failure.textContent = "";
      })
      .catch(function (error) {
        /* A status is read out each time its text is written, even the same words: write the
           failure once, not at every attempt while it lasts. */
        var message = "The refresh failed (" + error.message + "); retrying every " + every / 1000 + " s.";
        if (failure && failure.textContent !== message) failure.textContent = message;
      })
      .finally(function () { busy = false; });
  }

  window.setInterval(refresh, every);
})();
