"""Accessibility checks for the browser tests: axe-core (vendored in tests/vendor/axe-core, no
CDN) run on the page as it is now, with the WCAG 2.1 A and AA rules, failing with the list of
what a screen-reader or keyboard user would stumble on; and the reflow check (no sideways
scrolling) that WCAG 1.4.10 asks for at 320 CSS pixels.

axe is put into the page through the DevTools protocol rather than a <script> tag, so a
Content-Security-Policy without inline scripts does not block it (nor has to be loosened for it)."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
#: The rule sets of WCAG 2.0 and 2.1, levels A and AA: the standard the README promises.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_RUN = """async tags => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


def axe_violations(page) -> list[dict]:
    """The WCAG 2.1 A/AA violations axe finds on the page as it stands (a state, not a URL)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        session = page.context.new_cdp_session(page)
        try:
            session.send("Runtime.evaluate", {"expression": AXE.read_text(encoding="utf-8")})
        finally:
            session.detach()
    return page.evaluate(_RUN, WCAG_21_AA)


def broken_references(page) -> list[str]:
    """What axe lets pass but a screen reader trips on: aria-describedby/-labelledby naming an
    element that is not there (an error message not shown), and aria-label where it is not read
    (a <p>, a <div> or <span> without a role)."""
    return page.evaluate("""() => {
      const found = [];
      for (const e of document.querySelectorAll("[aria-describedby], [aria-labelledby]")) {
        for (const attr of ["aria-describedby", "aria-labelledby"]) {
          for (const id of (e.getAttribute(attr) || "").split(/\\s+/).filter(Boolean)) {
            if (!document.getElementById(id)) found.push(`${e.tagName.toLowerCase()}#${e.id} ${attr} names missing #${id}`);
          }
        }
      }
      for (const e of document.querySelectorAll("p[aria-label], div[aria-label]:not([role]), span[aria-label]:not([role])")) {
        found.push(`aria-label on a ${e.tagName.toLowerCase()} (not read): ${e.getAttribute("aria-label")}`);
      }
      return found;
    }""")


def unexplained_asterisks(page) -> list[str]:
    """The fields marked required by a red asterisk on a page that does not say in words what the
    asterisk means (a colour and a symbol alone are not an explanation: WCAG 1.3.1, 3.3.2)."""
    return page.evaluate("""() => {
      const marked = [...document.querySelectorAll("label.required, legend.required")].filter(e => e.offsetParent !== null);
      const said = document.body.innerText.includes("Fields marked with an asterisk (*) are required.");
      return said ? [] : marked.map(e => `"${e.textContent.trim()}" has a required asterisk nothing on the page explains`);
    }""")


def unstated_required(page) -> list[str]:
    """The fields marked required by the red asterisk that a screen reader does not hear as
    required (no `required`, no aria-required): what is seen must also be said (WCAG 1.3.1)."""
    return page.evaluate("""() => {
      const said = e => e.required || e.getAttribute("aria-required") === "true";
      const found = [];
      for (const label of document.querySelectorAll("label.required")) {
        const field = document.getElementById(label.htmlFor);
        if (label.offsetParent !== null && field && !said(field)) found.push(`"${label.textContent.trim()}" (#${field.id})`);
      }
      for (const legend of document.querySelectorAll("legend.required")) {
        const controls = [...legend.parentElement.querySelectorAll("input, select, textarea")];
        // A group of checkboxes ("at least one") has no required state in HTML or ARIA: its
        // legend's asterisk, in its name, and the page's note are what there is.
        if (controls.length && controls.every(c => c.type === "checkbox")) continue;
        if (legend.offsetParent !== null && !controls.some(said)) found.push(`"${legend.textContent.trim()}" (a group)`);
      }
      return found.map(f => `${f} shows a required asterisk but is not required to a screen reader`);
    }""")


def unmarked_but_required(page) -> list[str]:
    """On a form sent back empty: the fields refused for being empty that show no asterisk, on a
    page whose note says the asterisk marks what is required (so unmarked reads as optional)."""
    return page.evaluate("""() => {
      if (!document.body.innerText.includes("Fields marked with an asterisk (*) are required.")) return [];
      return [...document.querySelectorAll("p.error[id$='-error']")].flatMap(message => {
        const field = document.getElementById(message.id.slice(0, -"-error".length));
        if (!field) return [];
        const name = field.tagName === "FIELDSET" ? field.querySelector("legend") : document.querySelector(`label[for="${field.id}"]`);
        return name && !name.classList.contains("required") ? [`"${name.textContent.trim()}" is required (${message.textContent.trim()}) but shows no asterisk`] : [];
      });
    }""")


def faint_field_borders(page) -> list[str]:
    """The visible text fields and selects whose border, what shows where to type, has less than
    3:1 contrast with the field or what is around it (WCAG 1.4.11, which axe does not check)."""
    return page.evaluate("""() => {
      const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
      const luminance = ([r, g, b]) => [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
      const contrast = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
      const behind = e => { for (let a = e; a; a = a.parentElement) { const c = rgb(getComputedStyle(a).backgroundColor);
        if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
      const fields = [...document.querySelectorAll("input:not([type=hidden]):not([type=radio]):not([type=checkbox]):not([type=file]), select, textarea")];
      return fields.filter(e => e.offsetParent !== null && !e.disabled).flatMap(e => {
        const style = getComputedStyle(e);
        if (parseFloat(style.borderTopWidth) === 0) return [];
        const border = rgb(style.borderTopColor).slice(0, 3);
        const ratio = Math.min(contrast(border, behind(e)), contrast(border, behind(e.parentElement)));
        return ratio < 3 ? [`#${e.id || e.name}: its border ${style.borderTopColor} has ${ratio.toFixed(2)}:1 contrast (3:1 needed)`] : [];
      });
    }""")


def invisible_focus(page, limit: int = 150) -> list[str]:
    """Tab through the page from its top, once round: every stop the focus reaches that shows no
    focus indicator (no outline, no shadow), as a keyboard user would look for it (WCAG 2.4.7)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    found, first = [], None
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate("""() => { const e = document.activeElement;
          if (!e || e === document.body) return null;
          const s = getComputedStyle(e);
          const shown = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
          return {name: `${e.tagName.toLowerCase()}#${e.id} ${e.type || ""} ${(e.innerText || e.name || "").slice(0, 30)}`, shown}; }""")
        if stop is None or stop["name"] == first:
            break
        first = first or stop["name"]
        if not stop["shown"] and stop["name"] not in found:
            found.append(stop["name"])
    return found


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['summary'].splitlines()[-1].strip() if node['summary'] else ''}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def assert_accessible(page, state: str) -> None:
    """Fail, naming the page state and every violation, unless axe finds none."""
    violations = axe_violations(page)
    assert not violations, f"WCAG 2.1 AA violations on {state} ({page.url}):\n{describe(violations)}"


def sideways_overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: it reflows, no sideways scroll)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def wider_than_window(page) -> list[str]:
    """The innermost elements sticking out past the window's right edge: what to fix."""
    return page.evaluate("""() => {
      const width = document.documentElement.clientWidth;
      // Inside a box that scrolls (or clips) sideways, unless positioned out of it: an absolute
      // element is clipped only by a box that is also its containing block (or an ancestor of that).
      const clipped = e => {
        let absolute = getComputedStyle(e).position === "absolute";
        if (getComputedStyle(e).position === "fixed") return false;
        for (let box = e.parentElement; box && box !== document.body; box = box.parentElement) {
          const style = getComputedStyle(box);
          if (absolute && style.position === "static") continue;
          if (["auto", "scroll", "hidden", "clip"].includes(style.overflowX)) return true;
          if (style.position === "fixed") return false;
          absolute = style.position === "absolute";
        }
        return false;
      };
      const out = [...document.body.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > width + 0.5 && !clipped(e));
      return out.filter(e => !out.some(o => o !== e && e.contains(o))).slice(0, 8)
        .map(e => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className && e.className.baseVal === undefined ? "." + String(e.className).trim().replace(/\\s+/g, ".") : ""} (right edge ${Math.round(e.getBoundingClientRect().right)} px)`);
    }""")
