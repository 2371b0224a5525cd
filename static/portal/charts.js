// Draw plotly figures whose JSON the server embedded with the plotly_figure template tag.
// Figures inside fragments that HTMX swaps in are drawn after each swap. The whole document
// is scanned because an outerHTML swap replaces the element that the event names.
(function () {
  "use strict";

  var PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function drawFigures(root) {
    if (typeof window.Plotly === "undefined") {
      return;
    }
    var nodes = root.querySelectorAll("script[type='application/json'][data-plotly-figure]");
    nodes.forEach(function (node) {
      var canvas = node.parentElement && node.parentElement.querySelector(".chart-canvas");
      if (!canvas || canvas.dataset.drawn === "true") {
        return;
      }
      canvas.dataset.drawn = "true";
      var figure;
      try {
        figure = JSON.parse(node.textContent);
      } catch (error) {
        canvas.textContent = "This chart could not be read.";
        return;
      }
      window.Plotly.newPlot(canvas, figure.data || [], figure.layout || {}, PLOT_CONFIG);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawFigures(document);
  });
  document.addEventListener("htmx:afterSwap", function () {
    drawFigures(document);
  });
})();
