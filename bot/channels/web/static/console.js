// The web console's few behaviours: charts drawn from the JSON the page carries (Chart.js), and a
// queue that updates itself — it asks a cheap mark every few seconds and, when the mark changed,
// fetches the page again and swaps the live part in place (filters, focus and scroll stay put).
"use strict";

(function () {
  function drawCharts(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || canvas.dataset.drawn) return;
      var data = JSON.parse(source.textContent);
      var colours = ["#0e6e5c", "#d98a1c", "#5b6fd6", "#b8434f"];
      canvas.dataset.drawn = "1";
      new window.Chart(canvas, {
        type: data.type || "bar",
        data: {
          labels: data.labels,
          datasets: data.series.map(function (series, n) {
            return { label: series.name, data: series.values, backgroundColor: colours[n % colours.length],
                     borderColor: colours[n % colours.length] };
          })
        },
        options: { responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
                   plugins: { title: { display: !!data.title && canvas.dataset.title !== "0", text: data.title } },
                   scales: { y: { beginAtZero: true, max: data.y_max || undefined,
                                  ticks: { precision: data.y_max ? undefined : 0 } } } }
      });
    });
  }

  function liveQueue() {
    var live = document.getElementById("live");
    if (!live || !live.dataset.liveMark) return;
    var every = parseInt(live.dataset.every, 10) || 5000;
    var busy = false;
    function ask() {
      // Hidden tab: nothing to show. Keyboard focus inside the table: swapping it would throw the
      // person's place away; the next tick after they leave it brings the change.
      if (busy || document.hidden || live.contains(document.activeElement)) return;
      busy = true;
      fetch(live.dataset.liveMark, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body || body.mark === live.dataset.mark) return null;
          return fetch(window.location.href, { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) {
              if (!html) return;
              var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
              if (!fresh) return;
              live.innerHTML = fresh.innerHTML;
              live.dataset.mark = fresh.dataset.mark;
              var status = document.getElementById("live-status");
              if (status) status.textContent = live.dataset.said || "";
            });
        })
        .catch(function () { /* offline for a moment: the next tick asks again */ })
        .then(function () { busy = false; });
    }
    window.setInterval(ask, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    liveQueue();
  });
})();
