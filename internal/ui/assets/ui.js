// pkgserver's web UI: confirmation of destructive actions. Every page
// works without this file.
document.addEventListener("submit", function (e) {
  var q = e.target.getAttribute("data-confirm");
  if (q && !window.confirm(q)) {
    e.preventDefault();
  }
});
