// Draws every <canvas data-chart="ID"> from the Chart.js configuration in <script id="ID">.
(function () {
  "use strict";

  function asPercent(value) {
    return Math.round(value * 1000) / 10 + "%";
  }

  function usePercentTicks(config) {
    var scales = (config.options && config.options.scales) || {};
    var percentAxes = [];
    Object.keys(scales).forEach(function (name) {
      var ticks = scales[name].ticks || {};
      if (ticks.format === "percent") {
        delete ticks.format;
        ticks.callback = function (value) { return asPercent(value); };
        percentAxes.push(name);
      }
    });
    if (percentAxes.length) {
      config.options.plugins = config.options.plugins || {};
      config.options.plugins.tooltip = {
        callbacks: {
          label: function (context) {
            var parsed = context.parsed;
            var shown = percentAxes.map(function (axis) { return asPercent(parsed[axis]); });
            return context.dataset.label + ": " + shown.join(", ");
          },
        },
      };
    }
  }

  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || typeof Chart === "undefined") {
        return;
      }
      var config = JSON.parse(source.textContent);
      usePercentTicks(config);
      new Chart(canvas, config);
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
