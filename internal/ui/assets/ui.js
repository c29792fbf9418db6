// pkgserver's web UI: live pages. Every page works without this file.
//
// A live page (<body data-live data-events>) listens to its stream of
// changes. A list fetches itself again and swaps its content in, but not
// while the focus is inside it (a filter being typed, a link or button
// reached by keyboard): then as soon as the focus leaves it. A revision's
// page is not swapped — its buttons act on the version it shows — but
// says that the revision changed and offers a reload.
(function () {
  var body = document.body;
  var kind = body.getAttribute("data-live");
  var url = body.getAttribute("data-events");
  if (!kind || !url || !window.EventSource) {
    return;
  }
  var main = document.getElementById("main");
  var pending = false;
  function inMain(el) {
    return !!el && el !== main && main.contains(el);
  }
  function refresh() {
    if (inMain(document.activeElement)) {
      pending = true;
      return;
    }
    pending = false;
    if (window.htmx) {
      htmx.ajax("GET", location.href, { target: "#main", select: "#main", swap: "outerHTML" }).then(function () {
        main = document.getElementById("main");
      });
    }
  }
  document.addEventListener("focusout", function (e) {
    if (pending && !inMain(e.relatedTarget)) {
      setTimeout(refresh, 0);
    }
  });
  function notice() {
    if (document.getElementById("changed")) {
      return;
    }
    var p = document.createElement("p");
    p.id = "changed";
    p.className = "notice";
    p.setAttribute("role", "status");
    p.appendChild(document.createTextNode("This revision changed since this page was loaded. "));
    var a = document.createElement("a");
    a.href = location.href;
    a.textContent = "Reload to see it";
    p.appendChild(a);
    p.appendChild(document.createTextNode(" — the buttons act on what this page shows, and are refused now."));
    main.insertBefore(p, main.firstChild);
  }
  new EventSource(url).addEventListener("changed", kind === "revision" ? notice : refresh);
})();
