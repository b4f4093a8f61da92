/* Draws every figure of a dashboard page: each <div data-figure="ID"> gets the plotly figure
   stored as JSON in <script type="application/json" id="ID">. No inline script is needed,
   so the pages work under a strict Content-Security-Policy; without JavaScript the tables
   beside the charts carry the same numbers. */
(function () {
  "use strict";
  function draw() {
    if (typeof Plotly === "undefined") { return; }
    var targets = document.querySelectorAll("[data-figure]");
    for (var i = 0; i < targets.length; i++) {
      var target = targets[i];
      var source = document.getElementById(target.getAttribute("data-figure"));
      if (!source) { continue; }
      var figure = JSON.parse(source.textContent);
      var small = target.classList.contains("spark");
      Plotly.newPlot(target, figure.data, figure.layout, {
        displaylogo: false,
        responsive: !small,
        staticPlot: small,
        modeBarButtonsToRemove: ["sendDataToCloud"]
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
