/* What FAB's widgets lack for assistive technologies (RGAA 11.1, 9.3), on every page
   (appbuilder/init.html, after ab.js has turned the selects into select2 boxes):
   select2's search boxes are named after their field's label, an open box points to
   its list of results (aria-controls), and the "clear" cross of a multiple select
   leaves the list of choices it was put in (a list holds items); a grid's search
   filters are named, its menus hold menu items, and a collapsing panel does not claim
   to be expanded. */
$(function () {
  function fieldName(select) {
    var label = select.id ? document.querySelector('label[for="' + select.id + '"]') : null;
    return (label ? label.textContent : select.getAttribute("aria-label") || select.name || "").trim();
  }

  function mend(select) {
    var selection = $(select).next(".select2-container").find(".select2-selection");
    selection.find(".select2-search__field").attr("aria-label", fieldName(select));
    var choices = selection.children("ul.select2-selection__rendered");
    var cross = choices.children(".select2-selection__clear");  // select2 draws it anew on each change
    if (cross.length || !choices.children(".select2-selection__choice").length) {
      selection.children(".select2-selection__clear").remove();
    }
    cross.insertBefore(choices);
  }

  // A search filter's boxes are named after its column (FAB's ab_filters.js adds rows).
  function nameFilters(table) {
    $(table).find("tr").each(function () {
      var column = $(this).find(".remove-filter").text().replace("\u00d7", "").trim();
      $(this).find(".filter-op, .filter_val").not("[aria-label]").attr("aria-label", column);
    });
  }
  $("table.filters").each(function () {
    var table = this;
    nameFilters(table);
    new MutationObserver(function () { nameFilters(table); }).observe(table, {childList: true, subtree: true});
  });

  // FAB's grid menus (actions, page size, order) are ARIA menus: their entries are menu items.
  $(".dropdown-menu[role=menu] > li").attr("role", "none").children("a").attr("role", "menuitem");
  $(".dropdown-menu[role=menu] > li.divider").attr("role", "separator");

  // Bootstrap 3 marks the collapsing panel itself expanded; only its toggle may say so.
  // Taken off as soon as it is written (a microtask), not once the animation has ended.
  var unexpand = new MutationObserver(function (changes) {
    changes.forEach(function (change) { change.target.removeAttribute("aria-expanded"); });
  });
  $(".collapse").each(function () {
    this.removeAttribute("aria-expanded");
    unexpand.observe(this, {attributes: true, attributeFilter: ["aria-expanded"]});
  });

  $("select").each(function () { mend(this); });
  $(document).on("change select2:select select2:unselect", "select", function () {
    mend(this);
  }).on("select2:open", "select", function () {
    var results = $(".select2-dropdown .select2-results__options").attr("id");
    $(this).next(".select2-container").find(".select2-selection").attr("aria-controls", results);
    $(".select2-dropdown .select2-search__field").attr("aria-label", fieldName(this));
  }).on("select2:close", "select", function () {
    $(this).next(".select2-container").find(".select2-selection").removeAttr("aria-controls");
  });
});
