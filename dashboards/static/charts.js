/* Draws every figure of a dashboard page: each <div data-figure="ID"> gets the plotly figure
   stored as JSON in <script type="application/json" id="ID">. No inline script is needed,
   so the pages work under a strict Content-Security-Policy; without JavaScript the tables
   beside the charts carry the same numbers. Charts follow their box's width (responsive);
   on a phone the tool bar stays hidden, so it never sits on a chart. */
(function () {
  "use strict";
  var SMALL = 700;
  function draw() {
    if (typeof Plotly === "undefined") { return; }
    var narrow = window.matchMedia("(max-width: " + SMALL + "px)").matches;
    var targets = document.querySelectorAll("[data-figure]");
    for (var i = 0; i < targets.length; i++) {
      var target = targets[i];
      var source = document.getElementById(target.getAttribute("data-figure"));
      if (!source) { continue; }
      var figure = JSON.parse(source.textContent);
      var spark = target.classList.contains("spark");
      var layout = figure.layout;
      if (narrow && !spark && layout.font) {
        layout.font.size = 12;
      }
      Plotly.newPlot(target, figure.data, layout, {
        displaylogo: false,
        responsive: true,
        staticPlot: spark,
        displayModeBar: narrow ? false : "hover",
        modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d"]
      });
      target.setAttribute("data-drawn", "true");
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
