// The usage report's chart: hours booked by room (chart.js, served from the app's
// own static files); the figures come from the page's #report-data block.
(function () {
  var canvas = document.getElementById("report-chart");
  var source = document.getElementById("report-data");
  if (!canvas || !source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [{label: data.label, data: data.hours, backgroundColor: "#2a6496", borderColor: "#1f4e79", borderWidth: 1}]
    },
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        title: {display: true, text: data.title},
        legend: {display: false},
        tooltip: {callbacks: {label: function (item) { return data.durations[item.dataIndex]; }}}
      },
      scales: {x: {beginAtZero: true, title: {display: true, text: data.label}}}
    }
  });
})();
