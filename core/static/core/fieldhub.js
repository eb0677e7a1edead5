// Fieldhub's own script: times in the browser's time zone, and relative times that stay current.
(function () {
  "use strict";
  function localise(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = when.toLocaleString();
      if (!el.hasAttribute("data-relative")) el.textContent = when.toLocaleString();
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
// Whether the page is live: [data-live] on the socket's element is connecting, open or closed (shown by
// the stylesheet). A page that lost its socket missed what was pushed meanwhile, so when the socket comes
// back the page reloads once to catch up (a wall display recovers from a server restart by itself).
document.addEventListener("htmx:wsConnecting", function (e) {
  if (e.target.dataset.live !== "closed") e.target.dataset.live = "connecting";
});
document.addEventListener("htmx:wsOpen", function (e) {
  if (e.target.dataset.dropped) { window.location.reload(); return; }
  e.target.dataset.live = "open";
});
document.addEventListener("htmx:wsClose", function (e) {
  e.target.dataset.live = "closed";
  e.target.dataset.dropped = "1";
});
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
      el.dataset.live = "closed";  // "reconnecting…"
      el.dataset.dropped = "1";  // reload when it is back (htmx:wsOpen above)
      el.fieldhubHeard = Date.now();
      el.fieldhubSocket.reconnect();
    });
  }, 1000);
})();
