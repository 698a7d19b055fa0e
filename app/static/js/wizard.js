/* The booking wizard's participants step (booking/wizard.html): saved equipment is
   looked up by name (the table's data-equipment URL) as one types, and lines are
   added and removed. */
(function () {
  var table = document.querySelector("table.participants");
  if (!table) { return; }
  var body = table.querySelector("tbody");
  var options = document.getElementById("equipment-options");
  var found = {};
  var next = body.querySelectorAll("tr").length;
  function fill(row, item) {
    row.querySelector(".participant-equipment").value = item.id;
    ["kind", "email", "contact_name", "ip_address", "bridge_id", "phone"].forEach(function (field) {
      var input = row.querySelector("[name$='-" + field + "']");
      if (input) { input.value = item[field]; }
    });
  }
  function wire(row) {
    var name = row.querySelector(".participant-name");
    name.addEventListener("input", function () {
      var chosen = found[name.value];
      if (chosen) { fill(row, chosen); return; }
      row.querySelector(".participant-equipment").value = "";
      if (name.value.length < 2) { return; }
      fetch(table.dataset.equipment + "?q=" + encodeURIComponent(name.value), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (items) {
          options.innerHTML = "";
          items.forEach(function (item) {
            found[item.name] = item;
            var option = document.createElement("option");
            option.value = item.name;
            options.appendChild(option);
          });
        });
    });
    row.querySelector(".remove-participant").addEventListener("click", function () { row.remove(); });
  }
  body.querySelectorAll("tr").forEach(wire);
  document.getElementById("add-participant").addEventListener("click", function () {
    var last = body.querySelector("tr:last-child");
    var row = last.cloneNode(true);
    row.querySelectorAll("input, select").forEach(function (input) {
      input.name = input.name.replace(/^p-\d+-/, "p-" + next + "-");
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      if (input.type === "checkbox") { input.checked = false; }
      else if (input.tagName === "SELECT") { input.selectedIndex = 0; }
      else { input.value = ""; }
    });
    // A new line has no error of its own (the line copied may have had one).
    row.querySelectorAll(".participant-error").forEach(function (error) { error.remove(); });
    row.querySelectorAll(".has-error").forEach(function (cell) { cell.classList.remove("has-error"); });
    next += 1;
    body.appendChild(row);
    wire(row);
  });
})();
