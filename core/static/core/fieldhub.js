// Fieldhub's own script: times in the browser's time zone, and relative times that stay current.
(function () {
  "use strict";
  // One format on every page: the reader's locale, with the time zone named ("Dec 2, 2026, 03:25:54 UTC").
  var FORMAT = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  });
  function localise(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = FORMAT.format(when);
      if (!el.hasAttribute("data-relative")) el.textContent = FORMAT.format(when);
      el.setAttribute("data-local", "");
    });
  }
  function relative(el) {
    var seconds = Math.round((Date.now() - new Date(el.getAttribute("datetime"))) / 1000);
    if (isNaN(seconds)) return;
    var text;
    if (seconds < 5) text = "just now";
    else if (seconds < 60) text = seconds + " s ago";
    else if (seconds < 3600) text = Math.floor(seconds / 60) + " min ago";
    else if (seconds < 86400) text = Math.floor(seconds / 3600) + " h ago";
    else text = Math.floor(seconds / 86400) + " d ago";
    if (el.textContent !== text) el.textContent = text;
  }
  function tick() { document.querySelectorAll("time[data-relative]").forEach(relative); }
  document.addEventListener("DOMContentLoaded", function () { localise(document); tick(); setInterval(tick, 5000); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(document); tick(); });
  document.addEventListener("htmx:oobAfterSwap", function () { localise(document); tick(); });
  window.fieldhub = { localise: localise, tick: tick };
})();
// Live lists keep their newest entries only (the server sends new ones at the top).
document.addEventListener("htmx:oobAfterSwap", function () {
  document.querySelectorAll("ul.events").forEach(function (list) {
    var items = list.querySelectorAll("li[id]");
    for (var i = 50; i < items.length; i++) items[i].remove();
  });
});
// Whether the page is live: [data-live] on the socket's element is connecting, open or closed, and a badge at
// the top of the page says so in words (in the flow of the page, so that it never covers a field). A page
// that lost its socket missed what was pushed meanwhile, so when the socket comes back the page reloads once
// to catch up (a wall display recovers from a server restart by itself).
(function () {
  "use strict";
  var WORDS = { connecting: "connecting…", open: "● live", closed: "reconnecting…" };
  function show(element, state) {
    element.dataset.live = state;
    var badge = element.querySelector(":scope > .live-badge");
    if (!badge) {
      badge = document.createElement("p");
      badge.className = "live-badge";
      badge.setAttribute("role", "status");
      element.prepend(badge);
    }
    badge.textContent = WORDS[state];
  }
  window.fieldhub.showLive = show;
  document.addEventListener("htmx:wsConnecting", function (e) {
    if (e.target.dataset.live !== "closed") show(e.target, "connecting");
  });
  document.addEventListener("htmx:wsOpen", function (e) {
    if (e.target.dataset.dropped) { window.location.reload(); return; }
    show(e.target, "open");
  });
  document.addEventListener("htmx:wsClose", function (e) {
    // 4409: the user's sites changed (realtime.access); the page, reloaded, shows and hears the new ones
    if (e.detail.event && e.detail.event.code === 4409) { window.location.reload(); return; }
    show(e.target, "closed");
    e.target.dataset.dropped = "1";
  });
})();
// A form's answer ([data-answer]) replaces the previous one: it is cleared when the form is sent, so that an
// earlier "Queued …" never reads as the answer to a new command; a request that got no answer says so.
document.addEventListener("htmx:beforeRequest", function (e) {
  var target = e.detail.target;
  if (target && target.hasAttribute("data-answer")) target.textContent = "";
});
function fieldhubAnswer(e, text) {
  var target = e.detail.target;
  if (!target || !target.hasAttribute("data-answer")) return;
  var p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  target.replaceChildren(p);
}
document.addEventListener("htmx:sendError", function (e) {
  fieldhubAnswer(e, "Fieldhub did not answer (is the server running?): nothing was queued. Try again.");
});
document.addEventListener("htmx:responseError", function (e) {
  fieldhubAnswer(e, "Fieldhub answered " + e.detail.xhr.status + ": " + (e.detail.xhr.statusText || "an error") + ".");
});
// Live fragments (websocket messages). The publisher sends each fragment in a <template> of its own
// (realtime.publisher), so that table rows and other elements of one message parse apart (a <tr> after a
// <header> would be dropped by the parser). This swaps what the templates hold, out of band by id as htmx's
// ws extension would, and leaves out a fragment for an element this page does not show (a device on
// another page of the table, a list that takes no new rows because it is filtered or older, another
// campaign) instead of making htmx log an error; a row a list already shows is not added twice. A fragment
// that names no target at all is kept, so that htmx reports it. (hx-ext="fieldhub-live" on <main>.)
window.fieldhub.swapLive = function (text, elt) {
  var holder = document.createElement("template");
  holder.innerHTML = text;
  var kept = document.createDocumentFragment();
  Array.prototype.slice.call(holder.content.children).forEach(function (element) {
    var fragments = element.tagName === "TEMPLATE" ? element.content.children : [element];
    Array.prototype.slice.call(fragments).forEach(function (fragment) {
      var how = fragment.getAttribute("hx-swap-oob") || "true";
      fragment.setAttribute("hx-swap-oob", how);
      var colon = how.indexOf(":");
      var selector = colon > 0 ? how.slice(colon + 1) : fragment.id ? "#" + CSS.escape(fragment.id) : null;
      var target = null;
      try { target = selector && document.querySelector(selector); } catch (e) { selector = null; }
      if (selector && !target) return;  // not on this page
      if (colon > 0 && /^(afterbegin|beforeend)$/.test(how.slice(0, colon))) {
        Array.prototype.slice.call(fragment.children).forEach(function (item) {
          if (item.id && document.getElementById(item.id)) item.remove();
        });
      }
      kept.appendChild(fragment);
    });
  });
  var count = kept.children.length;
  if (count) htmx.swap(elt, kept, { swapStyle: "none", ignoreTitle: true });
  return count;
};
htmx.defineExtension("fieldhub-live", {
  transformResponse: function (text, xhr, elt) {
    if (xhr) return text;  // the answer to an htmx request, not a pushed fragment
    window.fieldhub.swapLive(text, elt);
    return "";  // swapped already: nothing left for the ws extension
  },
});
// Filter forms (GET) keep their empty fields out of the URL, whether the browser or htmx sends them.
document.addEventListener("formdata", function (e) {
  if (!e.target.matches || !e.target.matches("form[method=get]")) return;
  Array.from(e.formData.keys()).forEach(function (key) { if (e.formData.get(key) === "") e.formData.delete(key); });
  var zone = e.target.querySelector("input[data-browser-zone]");
  if (zone && !e.formData.has("since") && !e.formData.has("until")) e.formData.delete(zone.name);
});
// Filter forms with a time range: times without an offset are in the browser's time zone, which the form
// sends along (tz); without JavaScript they are UTC, as the page says.
document.addEventListener("DOMContentLoaded", function () {
  var zone = (window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone) || "";
  if (!zone) return;
  document.querySelectorAll("input[data-browser-zone]").forEach(function (input) { input.value = zone; });
  document.querySelectorAll("[data-browser-zone-name]").forEach(function (el) { el.textContent = zone; });
});
// A form that asks before it acts: <form data-confirm="Abort …?"> (inline handlers are refused by the
// Content-Security-Policy). Cancelling the question sends nothing; without JavaScript the form just posts.
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    e.preventDefault();
    e.stopImmediatePropagation();
  }
}, true);
// A socket that stays open but hears nothing is no better than a dropped one. The server sends a heartbeat
// (an HTML comment naming its interval in seconds, which htmx swaps nowhere) through the same way as every
// live update (realtime.sockets); a page that has heard nothing for three intervals (30 s before the first)
// reconnects its socket, and reloads to catch up once the socket is back, as after a drop. A server that
// knows updates were lost (Redis restarted without its data) says "resync": the page reloads at once.
(function () {
  "use strict";
  var HEARTBEAT = /<!--fieldhub:heartbeat ([0-9.]+)-->/;
  var RESYNC = "<!--fieldhub:resync-->";
  document.addEventListener("htmx:wsOpen", function (e) {
    e.target.fieldhubSocket = e.detail.socketWrapper;
    e.target.fieldhubHeard = Date.now();
    if (!e.target.fieldhubStall) e.target.fieldhubStall = 30000;
  });
  document.addEventListener("htmx:wsBeforeMessage", function (e) {
    var text = e.detail.message;
    e.target.fieldhubHeard = Date.now();
    if (typeof text !== "string") return;
    if (text.indexOf(RESYNC) !== -1) { e.preventDefault(); window.location.reload(); return; }
    var beat = HEARTBEAT.exec(text);
    if (beat) {
      e.target.fieldhubStall = 3000 * parseFloat(beat[1]);
      if (text === beat[0]) e.preventDefault();  // nothing to swap
    }
  });
  setInterval(function () {
    document.querySelectorAll(".live[data-live=open]").forEach(function (el) {
      if (!el.fieldhubSocket || Date.now() - el.fieldhubHeard <= el.fieldhubStall) return;
      window.fieldhub.showLive(el, "closed");  // "reconnecting…"
      el.dataset.dropped = "1";  // reload when it is back (htmx:wsOpen above)
      el.fieldhubHeard = Date.now();
      el.fieldhubSocket.reconnect();
    });
  }, 1000);
})();
// A form (or filter) whose refusal is its answer: inside [data-swap-refusal], a 409 or 422 (the reason, rendered
// by the server where the answer goes) is swapped in as a 200 would be, instead of being dropped as an error;
// the attribute may name more statuses whose answer is the reason too (data-swap-refusal="403 404").
document.addEventListener("htmx:beforeSwap", function (e) {
  var status = e.detail.xhr.status;
  var elt = e.detail.requestConfig && e.detail.requestConfig.elt;
  var form = elt && elt.closest && elt.closest("[data-swap-refusal]");
  var also = form ? (form.getAttribute("data-swap-refusal") || "").split(/\s+/) : [];
  if (form && (status === 409 || status === 422 || also.indexOf(String(status)) !== -1)) {
    e.detail.shouldSwap = true;
    e.detail.isError = false;
  }
});
