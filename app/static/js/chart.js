/* FAB's chart widgets drawn with Chart.js (appbuilder/general/widgets/direct_chart.html):
   each canvas carries FAB's data table (data-chart: {cols, rows}), its Google Charts type
   (data-type) and its title. */
(function () {
  var KINDS = {
    ColumnChart: {type: "bar", indexAxis: "x"}, BarChart: {type: "bar", indexAxis: "y"},
    LineChart: {type: "line"}, AreaChart: {type: "line", fill: true}, PieChart: {type: "pie"}
  };
  // A category's name longer than 40 % of the chart (a phone) ends with "…" rather than
  // off the canvas; its tooltip keeps it whole.
  function shortened(label, chart) {
    var room = Math.max(8, Math.floor(chart.width * 0.4 / 7));
    return label.length > room ? label.slice(0, room - 1) + "\u2026" : label;
  }
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    if (Chart.getChart(canvas)) { return; }
    var table = JSON.parse(canvas.dataset.chart);
    var kind = KINDS[canvas.dataset.type] || KINDS.ColumnChart;
    var datasets = table.cols.slice(1).map(function (column, index) {
      return {
        label: column.label, fill: !!kind.fill,
        data: table.rows.map(function (row) { return row.c[index + 1].v; })
      };
    });
    var indexAxis = kind.indexAxis || "x";
    var scales = {};
    if (kind.type !== "pie") {
      scales[indexAxis] = {ticks: {callback: function (value) { return shortened(this.getLabelForValue(value), this.chart); }}};
    }
    new Chart(canvas, {
      type: kind.type,
      data: {labels: table.rows.map(function (row) { return String(row.c[0].v); }), datasets: datasets},
      options: {
        indexAxis: indexAxis, maintainAspectRatio: false, scales: scales,
        plugins: {title: {display: !!canvas.dataset.title, text: canvas.dataset.title}}
      }
    });
  });
})();
