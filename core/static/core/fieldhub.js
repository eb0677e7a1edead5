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
// A form that asks before it acts: <form data-confirm="Abort …?"> (inline handlers are refused by the
// Content-Security-Policy). Cancelling the question sends nothing; without JavaScript the form just posts.
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    e.preventDefault();
    e.stopImmediatePropagation();
  }
}, true);
// The firmware pages (hx-ext="ws,present-targets"): their group's fragments come each in a <template>, so that
// table rows and other elements joined in one message parse apart (a <tr> after a <header> would be dropped).
// swapPresent swaps what the templates hold, out of band as usual, and drops a fragment whose target is not
// on this page (a campaign page gets every campaign's news) rather than swap it into nothing, which htmx
// reports as an error.
window.fieldhub.swapPresent = function (text, elt) {
  var holder = document.createElement("template");
  holder.innerHTML = text;
  var present = function (el) {
    var swap = el.getAttribute("hx-swap-oob");
    if (swap === null) return false;
    var colon = swap.indexOf(":");
    var selector = colon > 0 ? swap.slice(colon + 1) : el.id ? "#" + CSS.escape(el.id) : null;
    return selector !== null && document.querySelector(selector) !== null;
  };
  var kept = 0;
  Array.prototype.slice.call(holder.content.children).forEach(function (el) {
    var wrapped = el.tagName === "TEMPLATE";
    var fragments = wrapped ? Array.prototype.slice.call(el.content.children) : [el];
    fragments.forEach(function (fragment) {
      if (present(fragment)) kept++;
      else fragment.remove();
    });
    if (wrapped && !el.content.children.length) el.remove();
  });
  if (kept) window.htmx.swap(elt, holder.content, { swapStyle: "none", ignoreTitle: true });
  return kept;
};
if (window.htmx) {
  window.htmx.defineExtension("present-targets", {
    transformResponse: function (text, xhr, elt) {
      window.fieldhub.swapPresent(text, elt);
      return "";  // swapped already: nothing for the ws extension to swap
    }
  });
}
