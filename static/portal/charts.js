// Draw plotly figures whose JSON the server put in the data-plotly-figure attribute of each
// chart canvas (the plotly_figure template tag).
// Figures inside fragments that HTMX swaps in are drawn after each swap. The whole document
// is scanned because an outerHTML swap replaces the element that the event names.
// The same file is inlined into the offline project report, so it must not fetch anything.
(function () {
  "use strict";

  var REMOVED_BUTTONS = ["lasso2d", "select2d"];

  function plotConfig(canvas) {
    return {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: REMOVED_BUTTONS,
      // The camera button saves a PNG named after the project and the chart, at twice the
      // on-screen resolution so that it stays sharp in slides.
      toImageButtonOptions: {
        format: "png",
        filename: canvas.dataset.exportName || canvas.id || "chart",
        scale: 2,
      },
    };
  }

  function drawFigures(root) {
    if (typeof window.Plotly === "undefined") {
      return;
    }
    var canvases = root.querySelectorAll(".chart-canvas[data-plotly-figure]");
    canvases.forEach(function (canvas) {
      if (canvas.dataset.drawn === "true") {
        return;
      }
      canvas.dataset.drawn = "true";
      var figure;
      try {
        figure = JSON.parse(canvas.dataset.plotlyFigure);
      } catch (error) {
        canvas.textContent = "This chart could not be read.";
        return;
      }
      // A figure that sets its own height (legends below, long bar lists) gets a taller frame.
      if (figure.layout && figure.layout.height) {
        canvas.style.height = figure.layout.height + "px";
      }
      window.Plotly.newPlot(canvas, figure.data || [], figure.layout || {}, plotConfig(canvas));
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      drawFigures(document);
    });
  } else {
    drawFigures(document);
  }
  document.addEventListener("htmx:afterSwap", function () {
    drawFigures(document);
  });
})();
