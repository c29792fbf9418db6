// pkgserver's web UI: live pages. Every page works without this file.

// A live page (<body data-live>) listens to the server's events and, when
// the index changed, fetches itself again and swaps its content in — not
// while a control of it has the focus (a filter being typed), but as soon
// as the focus leaves it.
(function () {
  if (!document.body.hasAttribute("data-live") || !window.EventSource) {
    return;
  }
  var pending = false;
  function refresh() {
    var a = document.activeElement;
    if (a && a.closest && a.closest("#main form") && a.tagName !== "BUTTON") {
      pending = true;
      return;
    }
    pending = false;
    if (window.htmx) {
      htmx.ajax("GET", location.href, { target: "#main", select: "#main", swap: "outerHTML" });
    }
  }
  document.addEventListener("focusout", function () {
    if (pending) {
      setTimeout(refresh, 0);
    }
  });
  var events = new EventSource("/ui/events");
  events.addEventListener("changed", refresh);
})();
