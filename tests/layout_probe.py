"""What a page's layout measures in the browser: sideways scrolling and chart text boxes.

`PROBE` runs in the page and returns, for the page and each drawn chart, the problems found:
the document wider than the window, or a chart's title, legend, axis title or tick label
outside its chart's box or overlapping another of them (boxes from getBoundingClientRect).
"""

from __future__ import annotations

PROBE = r"""
() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) {
    problems.push(`the page scrolls sideways: ${doc.scrollWidth} px in ${doc.clientWidth} px`);
  }
  const box = (el) => el.getBoundingClientRect();
  const overlap = (a, b) => {
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    return w > 1 && h > 1 ? w * h : 0;
  };
  const groups = {
    title: ".gtitle", legend: ".legend .traces", xtitle: ".g-xtitle text",
    ytitle: ".g-ytitle text", xticks: ".xtick text", yticks: ".ytick text",
  };
  for (const chart of document.querySelectorAll(".chart[data-drawn]:not(.spark)")) {
    const frame = box(chart);
    const found = [];
    for (const [group, selector] of Object.entries(groups)) {
      for (const el of chart.querySelectorAll(selector)) {
        const r = box(el);
        const blank = !(el.textContent || "").trim() && group !== "legend";
        if (r.width === 0 || r.height === 0 || blank) continue;
        found.push({group, r, text: (el.textContent || "").trim().slice(0, 40)});
      }
    }
    for (const item of found) {
      const r = item.r;
      if (r.left < frame.left - 1 || r.right > frame.right + 1 || r.top < frame.top - 1 ||
          r.bottom > frame.bottom + 1 || r.right > doc.clientWidth + 1 || r.left < -1) {
        problems.push(`${chart.id}: ${item.group} "${item.text}" is clipped`);
      }
    }
    for (let i = 0; i < found.length; i++) {
      for (let j = i + 1; j < found.length; j++) {
        const a = found[i], b = found[j];
        if (a.group === "legend" && b.group === "legend") continue;
        if (overlap(a.r, b.r) > 4) {
          problems.push(`${chart.id}: ${a.group} "${a.text}" overlaps ${b.group} "${b.text}"`);
        }
      }
    }
  }
  return problems;
}
"""
