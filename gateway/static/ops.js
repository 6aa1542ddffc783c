/* /ops refreshes itself: the panel is re-fetched every few seconds and updated in place.
   Without JavaScript the page reloads itself (a <noscript> meta refresh).

   In place means: elements that are still there stay the same elements, only their text and
   attributes change, so the keyboard focus (a link, a Retry button) is never dropped and a
   screen reader is not sent back to the top. Rows are matched by their key (data-account,
   data-queue, ...), so a focused Retry button never ends up on another account's row. */
(function () {
  "use strict";
  var panel = document.getElementById("ops-panel");
  if (!panel) return;
  var every = (parseInt(panel.dataset.every, 10) || 5) * 1000;
  var stamp = document.getElementById("ops-updated");
  var failure = document.getElementById("ops-refresh-error");
  var KEYS = ["id", "data-account", "data-dead", "data-queue", "data-stage", "data-status", "data-testid"];
  var busy = false;

  function keyOf(node) {
    if (node.nodeType !== 1) return null;
    for (var i = 0; i < KEYS.length; i++) {
      if (node.hasAttribute(KEYS[i])) return node.tagName + " " + KEYS[i] + "=" + node.getAttribute(KEYS[i]);
    }
    return null;
  }

  function sameKind(a, b) {
    return a.nodeType === b.nodeType && (a.nodeType !== 1 || a.tagName === b.tagName);
  }

  function morphAttributes(from, to) {
    Array.prototype.slice.call(from.attributes).forEach(function (attr) {
      if (!to.hasAttribute(attr.name)) from.removeAttribute(attr.name);
    });
    Array.prototype.slice.call(to.attributes).forEach(function (attr) {
      if (from.getAttribute(attr.name) !== attr.value) from.setAttribute(attr.name, attr.value);
    });
  }

  function morphChildren(from, to) {
    var keyed = {}, unkeyed = [];
    Array.prototype.slice.call(from.childNodes).forEach(function (node) {
      var key = keyOf(node);
      if (key !== null && !(key in keyed)) keyed[key] = node; else unkeyed.push(node);
    });
    var wanted = Array.prototype.slice.call(to.childNodes).map(function (node) {
      var key = keyOf(node);
      var match = key !== null ? keyed[key] : unkeyed.shift();
      if (key !== null) delete keyed[key];
      if (match && sameKind(match, node)) {
        if (node.nodeType === 1) { morphAttributes(match, node); morphChildren(match, node); }
        else if (match.nodeValue !== node.nodeValue) match.nodeValue = node.nodeValue;
        return match;
      }
      return node;
    });
    /* Remove what is gone first, then put the rest in order: kept nodes before any inserted
       one are never moved (moving a node would blur it). */
    Array.prototype.slice.call(from.childNodes).forEach(function (node) {
      if (wanted.indexOf(node) === -1) from.removeChild(node);
    });
    wanted.forEach(function (node, index) {
      if (from.childNodes[index] !== node) from.insertBefore(node, from.childNodes[index] || null);
    });
  }

  /* One listener for every "are you sure" form, present or yet to come. */
  panel.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  function refresh() {
    if (busy) return;
    busy = true;
    fetch(panel.dataset.url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        return response.text();
      })
      .then(function (html) {
        var fresh = document.createElement("div");
        fresh.innerHTML = html;
        morphChildren(panel, fresh);
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
