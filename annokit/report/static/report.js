
(function () {
  var table = document.getElementById("findings");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var count = document.getElementById("f-count");
  // filter id -> key in the URL hash (#sev=error&check=geometry.tiny), so views can be linked
  var filters = {sev: "f-sev", check: "f-check", cls: "f-cls", q: "f-text"};
  var el = {};
  Object.keys(filters).forEach(function (k) { el[k] = document.getElementById(filters[k]); });
  function apply() {
    var s = el.sev.value, c = el.check.value, k = el.cls.value;
    var t = el.q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!s || r.dataset.sev === s) && (!c || r.dataset.check === c) &&
               (!k || r.dataset.cls === k) && (!t || r.textContent.toLowerCase().indexOf(t) >= 0);
      r.hidden = !ok;
      if (ok) n++;
    });
    count.textContent = n.toLocaleString("en") + " of " + rows.length.toLocaleString("en") +
                        " rows shown";
    var hash = new URLSearchParams();
    Object.keys(el).forEach(function (k) { if (el[k].value) hash.set(k, el[k].value); });
    try {  // some browsers refuse history changes on file:// pages; the filters still work
      history.replaceState(null, "", hash.toString() ? "#" + hash : location.pathname);
    } catch (e) {}
  }
  var wanted = new URLSearchParams(location.hash.slice(1));
  Object.keys(el).forEach(function (k) {
    if (wanted.has(k)) el[k].value = wanted.get(k);
    el[k].addEventListener("input", apply);
  });
  document.querySelectorAll("#checks tbody tr").forEach(function (tr) {
    tr.addEventListener("click", function () {
      el.check.value = tr.dataset.check; apply(); table.scrollIntoView();
    });
  });
  apply();
})();
