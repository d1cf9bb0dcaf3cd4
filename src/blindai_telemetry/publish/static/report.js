// Charts of the public usage report, drawn from the figures embedded in index.html (the tables already show them
// all: without JavaScript nothing is lost but the pictures). Loads nothing: Chart.js sits beside this file.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var drawn = [];

  function chart(id, type, labels, values, label) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") { return; }
    drawn.push(new Chart(canvas, {
      type: type,
      data: { labels: labels, datasets: [{ label: label, data: values, backgroundColor: "#4a7ab8",
                                           borderColor: "#4a7ab8", fill: false }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 indexAxis: type === "bar" ? "y" : "x",
                 plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true }, y: { beginAtZero: true } } }
    }));
  }

  Object.keys(data.tables).forEach(function (name) {
    var rows = data.tables[name];
    chart("chart-" + name, "bar", rows.map(function (r) { return r.value; }),
          rows.map(function (r) { return r.installs; }), "installs (about)");
  });
  var weeks = data.weekly_active_installs;
  chart("chart-weekly", "line", weeks.map(function (w) { return w.week; }),
        weeks.map(function (w) { return w.installs; }), "installs (about)");
  document.body.dataset.charts = String(drawn.length);
})();
