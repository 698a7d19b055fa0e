/* FAB's chart widgets drawn with Chart.js (appbuilder/general/widgets/direct_chart.html):
   each canvas carries FAB's data table (data-chart: {cols, rows}), its Google Charts type
   (data-type) and its title. */
(function () {
  var KINDS = {
    ColumnChart: {type: "bar", indexAxis: "x"}, BarChart: {type: "bar", indexAxis: "y"},
    LineChart: {type: "line"}, AreaChart: {type: "line", fill: true}, PieChart: {type: "pie"}
  };
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
    new Chart(canvas, {
      type: kind.type,
      data: {labels: table.rows.map(function (row) { return String(row.c[0].v); }), datasets: datasets},
      options: {
        indexAxis: kind.indexAxis || "x", maintainAspectRatio: false,
        plugins: {title: {display: !!canvas.dataset.title, text: canvas.dataset.title}}
      }
    });
  });
})();
