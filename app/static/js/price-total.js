/* A form's running total (a form marked data-total): the data-price of its checked
   radios and boxes and of its selected options, written in its data-total-output.
   A [data-choice] block counts only while its radio is checked, and its other inputs
   are disabled otherwise (they would be refused); a [data-guest] line counts once its
   [data-guest-name] is filled. The server reckons the price again: this is a preview. */
(function () {
  document.querySelectorAll("form[data-total]").forEach(function (form) {
    var output = form.querySelector("[data-total-output]");
    var format = new Intl.NumberFormat(document.documentElement.lang || undefined,
                                       {style: "currency", currency: form.dataset.currency || "EUR"});
    function counts(element) {
      var guest = element.closest("[data-guest]");
      if (guest && !guest.querySelector("[data-guest-name]").value.trim()) { return false; }
      return !element.disabled;
    }
    function update() {
      form.querySelectorAll("[data-choice]").forEach(function (block) {
        var chosen = block.querySelector("input[type=radio]").checked;
        block.querySelectorAll("input:not([type=radio]), select").forEach(function (input) {
          input.disabled = !chosen;
        });
      });
      var total = 0;
      form.querySelectorAll("input[data-price]:checked").forEach(function (input) {
        if (counts(input)) { total += parseFloat(input.dataset.price); }
      });
      form.querySelectorAll("select").forEach(function (select) {
        var option = select.options[select.selectedIndex];
        if (option && option.dataset.price !== undefined && counts(select)) {
          total += parseFloat(option.dataset.price);
        }
      });
      output.textContent = format.format(Math.max(total, 0));
    }
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
  });
})();
