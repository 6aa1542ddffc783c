/* kamflow's own script: small progressive enhancements; every page works without it. */
(function () {
  "use strict";
  var lang = navigator.language || document.documentElement.lang || "en";

  /* Dates in the reader's locale: <time datetime="ISO" data-format="date|datetime">. */
  function formatDates(root) {
    var dateFmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
    var timeFmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    root.querySelectorAll("time[datetime][data-format]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      var isDate = el.dataset.format === "date";
      /* A bare date is a calendar day: read it at noon local time so no timezone shifts it. */
      var value = new Date(isDate ? iso + "T12:00:00" : iso);
      if (!isNaN(value)) {
        el.textContent = (isDate ? dateFmt : timeFmt).format(value);
        el.title = iso;
      }
    });
  }

  /* Show the parts of a form that depend on a radio answer (data-when/data-value). */
  function bindConditionals(form) {
    var parts = form.querySelectorAll("[data-when]");
    if (!parts.length) return;
    function update() {
      parts.forEach(function (part) {
        var checked = form.querySelector('input[name="' + part.dataset.when + '"]:checked');
        part.hidden = !checked || checked.value !== part.dataset.value;
      });
    }
    form.addEventListener("change", update);
    update();
  }

  /* A market card looks selected when its checkbox is ticked; an unticked market's fields are
     hidden and disabled, so the keyboard goes from one market's checkbox to the next. */
  function bindMarketCards(form) {
    form.querySelectorAll(".market-card").forEach(function (card) {
      var box = card.querySelector('input[name="markets"]');
      var fields = card.querySelector(".market-fields");
      function update() {
        card.classList.toggle("selected", box.checked);
        if (fields) fields.disabled = fields.hidden = !box.checked;
      }
      box.addEventListener("change", update);
      update();
    });
  }

  /* An error shown by the server goes as soon as its field is answered again: the message, the
     red border and aria-invalid. Errors belong to a field name (radio groups and checkbox groups
     are a fieldset with that id; a text field is its .field; a market's own box is its card). */
  function clearError(container, key) {
    var message = document.getElementById(key + "-error");
    if (!message) return;
    message.remove();
    if (!container) return;
    if (!container.querySelector(".error")) container.classList.remove("has-error");
    [container].concat(Array.prototype.slice.call(container.querySelectorAll("[aria-describedby]"))).forEach(function (el) {
      var ids = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return id && id !== key + "-error"; });
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" ")); else el.removeAttribute("aria-describedby");
      if (!container.querySelector(".error")) el.removeAttribute("aria-invalid");
    });
  }

  function bindErrorClearing(form) {
    function answered(event) {
      var input = event.target;
      [input.name, input.id].forEach(function (key) {
        if (!key) return;
        var group = document.getElementById(key);
        var container = group && group.tagName === "FIELDSET" ? group : input.closest(".field, .market-card");
        clearError(container, key);
      });
    }
    form.addEventListener("input", answered);
    form.addEventListener("change", answered);
  }

  /* The error summary (focused on load by autofocus): each link puts the focus in its field,
     the first control of a group (radios, checkboxes), not just scrolls to it. */
  function bindErrorSummary(summary) {
    if (document.activeElement === document.body) summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest('a[href^="#"]');
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      var ENABLED = "input:checked:enabled, input:not([type=hidden]):enabled, select:enabled, textarea:enabled";
      var control = target.matches("input, select, textarea") ? target : target.querySelector(ENABLED);
      /* A field disabled since (its market unticked): the first control of the group around it
         that still works, the market's own checkbox, rather than a link that does nothing. */
      if (control && control.matches(":disabled")) {
        for (var group = target; group && (!control || control.matches(":disabled")); ) {
          group = group.parentElement && group.parentElement.closest("fieldset");
          control = group && group.querySelector(ENABLED);
        }
      }
      if (!control) return;
      event.preventDefault();
      (target.closest("fieldset, .field") || target).scrollIntoView();
      control.focus({ preventScroll: true });
    });
  }

  /* A form marked data-once cannot be submitted twice by a double click. */
  function bindOnce(form) {
    if (form.onceBound) return;  /* kept by an update in place: bound already */
    form.onceBound = true;
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      /* Keep the clicked button's name/value: disable only after the browser read it. */
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  }

  /* Update a part in place from fresh HTML: elements that are still there stay the same
     elements, only their text and attributes change, so the keyboard focus is never dropped, and
     a live region announces what changed, not all of itself again. Elements are matched by their
     key (id, data-account, data-stage, ...), the others by their order. /ops uses it too. */
  var KEYS = ["id", "data-account", "data-dead", "data-queue", "data-stage", "data-status", "data-testid"];

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

  /* The element without a key that `node` updates: the first of the same tag and class (a part
     that appears, such as a message, must not take over the next part of the same tag), else the
     first of the same tag (its class changed); a text node updates the first text node. */
  function takeUnkeyed(unkeyed, node) {
    var sameTag = -1;
    for (var i = 0; i < unkeyed.length; i++) {
      if (!sameKind(unkeyed[i], node)) continue;
      if (node.nodeType !== 1 || unkeyed[i].className === node.className) return unkeyed.splice(i, 1)[0];
      if (sameTag === -1) sameTag = i;
    }
    return sameTag === -1 ? undefined : unkeyed.splice(sameTag, 1)[0];
  }

  function morphChildren(from, to) {
    var keyed = {}, unkeyed = [];
    Array.prototype.slice.call(from.childNodes).forEach(function (node) {
      var key = keyOf(node);
      if (key !== null && !(key in keyed)) keyed[key] = node; else unkeyed.push(node);
    });
    var wanted = Array.prototype.slice.call(to.childNodes).map(function (node) {
      var key = keyOf(node);
      var match = key !== null ? keyed[key] : takeUnkeyed(unkeyed, node);
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

  /* Live parts: poll data-poll (JSON {html, final}) and update the content in place until final. */
  function bindPolling(el) {
    var url = el.dataset.poll;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(r.status);
          window.kamflow.sessionUsed();  /* a request: the session's idle clock started again */
          return r.json();
        })
        .then(function (data) {
          /* Change only what changed: a live region rewritten is read out again whole, and a
             focused button inside it would lose the focus every second. */
          var fresh = document.createElement("div");
          fresh.innerHTML = data.html;
          formatDates(fresh);
          if (fresh.innerHTML !== el.innerHTML) {
            morphChildren(el, fresh);
            el.querySelectorAll("form[data-once]").forEach(bindOnce);
          }
          if (!data.final) setTimeout(tick, 1000);
        })
        .catch(function () { setTimeout(tick, 3000); });
    }
    setTimeout(tick, 1000);
  }

  /* Before the session ends for want of a request (SESSION_IDLE_MINUTES), a warning that takes
     the focus and offers to stay logged in (WCAG 2.2.1: a time limit can be extended). Every
     request starts the server's idle clock again: a page that polls (/ops, the set-up progress)
     tells this one through kamflow.sessionUsed. */
  function bindSessionWarning(box) {
    var idle = Number(document.body.dataset.sessionIdleS), lead = Number(document.body.dataset.sessionLeadS);
    if (!idle) return function () {};
    var form = box.querySelector("form"), left = box.querySelector("[data-session-left]");
    var timer = null, returnTo = null;
    function minutes(seconds) {
      return seconds >= 120 ? Math.round(seconds / 60) + " minutes" : seconds + " seconds";
    }
    function show() {
      returnTo = document.activeElement;
      left.textContent = minutes(lead);
      box.hidden = false;
      form.querySelector("button").focus();
    }
    function arm() {
      window.clearTimeout(timer);
      timer = window.setTimeout(show, (idle - lead) * 1000);
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          box.hidden = true;
          if (returnTo && returnTo !== document.body && returnTo.focus) returnTo.focus();
          arm();
        })
        .catch(function () {
          left.closest("p").textContent = "Your session has ended: log in again in another tab before sending this page.";
        });
    });
    arm();
    return arm;
  }

  var warning = document.getElementById("session-warning");
  window.kamflow = { morph: morphChildren, sessionUsed: warning ? bindSessionWarning(warning) : function () {} };
  formatDates(document);
  document.querySelectorAll("form").forEach(function (form) {
    bindConditionals(form);
    bindMarketCards(form);
    bindErrorClearing(form);
    if (form.hasAttribute("data-once")) bindOnce(form);
  });
  document.querySelectorAll("[data-poll]").forEach(bindPolling);
  document.querySelectorAll(".error-summary").forEach(bindErrorSummary);
  /* What the last action did (a message after a redirect): read first, unless something else
     (an error summary, a field with autofocus) has the focus already. */
  var message = document.querySelector(".flash");
  if (message && document.activeElement === document.body) message.focus();
})();
