// The export page: ask the server how far the job has got, once a second, until the
// file is ready (then show its link) or the job has failed.
(function () {
  "use strict";
  var box = document.getElementById("export-progress");
  if (!box) { return; }
  var bar = document.getElementById("export-bar");
  function part(name) { return box.querySelector('[data-part="' + name + '"]'); }
  function show(status) {
    bar.max = status.total || 1;
    bar.value = status.total ? status.done : 0;
    document.getElementById("export-text").textContent = status.summary;
    part("waiting").hidden = status.state !== "queued" && status.state !== "running";
    if (status.download) {
      part("download").querySelector("a").href = status.download;
      part("download").hidden = false;
    }
    part("failed").hidden = status.state !== "failed";
  }
  function poll() {
    fetch(box.dataset.status, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (status) {
        show(status);
        if (status.state === "queued" || status.state === "running") { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (box.dataset.state === "queued" || box.dataset.state === "running") { poll(); }
}());
