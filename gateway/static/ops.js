/* /ops refreshes itself: the panel is re-fetched every few seconds and swapped in place.
   Without JavaScript the page reloads itself (a <noscript> meta refresh). */
(function () {
  "use strict";
  var panel = document.getElementById("ops-panel");
  if (!panel) return;
  var every = (parseInt(panel.dataset.every, 10) || 5) * 1000;
  var stamp = document.getElementById("ops-updated");
  var busy = false;

  function confirmations(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  function refresh() {
    /* Do not swap the panel under a pointer that is about to press a button. */
    if (busy || panel.matches(":hover") && document.activeElement && panel.contains(document.activeElement)) return;
    busy = true;
    fetch(panel.dataset.url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        return response.text();
      })
      .then(function (html) {
        panel.innerHTML = html;
        confirmations(panel);
        if (stamp) stamp.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      })
      .catch(function (error) {
        if (stamp) stamp.textContent = "refresh failed (" + error.message + "), retrying";
      })
      .finally(function () { busy = false; });
  }

  confirmations(panel);
  window.setInterval(refresh, every);
})();
