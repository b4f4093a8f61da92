/* Draws every figure of a dashboard page: each <div data-figure="ID"> gets the plotly figure
   stored as JSON in <script type="application/json" id="ID">. No inline script is needed,
   so the pages work under a strict Content-Security-Policy; without JavaScript the tables
   beside the charts carry the same numbers. Charts follow their box's width (responsive);
   on a phone the tool bar stays hidden, so it never sits on a chart. */
(function () {
  "use strict";
  var SMALL = 700;
  var TICK_ROOM = 72; // px a horizontal category label needs on a phone

  function wrap(text, width) {
    var lines = [];
    text.replace(/<br>/g, " ").split(" ").forEach(function (word) {
      var last = lines.length - 1;
      if (last >= 0 && (lines[last] + " " + word).length <= width) {
        lines[last] += " " + word;
      } else {
        lines.push(word);
      }
    });
    return lines.join("<br>");
  }

  // On a phone, category labels stay horizontal: narrower lines, and every n-th label
  // when there is no room for all (each point still names its category on hover).
  function fitCategories(axis, width) {
    if (!axis || axis.type !== "category" || !axis.categoryarray) { return; }
    var categories = axis.categoryarray;
    var room = width - 80;
    var most = Math.max(2, Math.floor(room / TICK_ROOM));
    var step = Math.ceil(categories.length / most);
    // The end labels keep half a label's width inside the plot, off the other axis's labels.
    var slot = room / categories.length;
    var edge = step > 1 ? Math.max(0, Math.ceil(TICK_ROOM / 2 / slot - 0.5)) : 0;
    axis.tickvals = [];
    axis.ticktext = [];
    for (var i = edge; i < categories.length - edge; i += step) {
      axis.tickvals.push(categories[i]);
      axis.ticktext.push(wrap(categories[i], 10));
    }
    axis.tickangle = 0;
  }
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
      if (narrow && !spark) {
        if (layout.font) { layout.font.size = 12; }
        fitCategories(layout.xaxis, target.clientWidth);
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
