/* The rights screen's "+" (operator/accounts_new.html): a new empty account row made
   from the page's <template id="account-row-template">, its __index__ and __number__
   replaced, focused on its first field. Without this script the same button posts the
   form, which comes back with one more row; past the form's maximum it posts too, and
   the server says so. */
(function () {
  var button = document.getElementById("add-account-row");
  var template = document.getElementById("account-row-template");
  var rows = document.getElementById("account-rows");
  if (!button || !template || !rows) { return; }
  button.addEventListener("click", function (event) {
    var count = rows.querySelectorAll("[data-account-row]").length;
    if (count >= parseInt(rows.dataset.max, 10)) { return; }
    event.preventDefault();
    var html = template.innerHTML.replace(/__index__/g, String(count)).replace(/__number__/g, String(count + 1));
    rows.insertAdjacentHTML("beforeend", html);
    var field = rows.lastElementChild.querySelector("input");
    if (field) { field.focus(); }
  });
})();
