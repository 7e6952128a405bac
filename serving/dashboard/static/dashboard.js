// Draws every figure of the page: a plotly figure (JSON) in the data-fig attribute of a div.
// Loaded after the plotly.js the app serves from the plotly wheel; nothing comes from elsewhere.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-fig]").forEach(function (el) {
    var fig = JSON.parse(el.getAttribute("data-fig"));
    Plotly.newPlot(el, fig.data, fig.layout, {displaylogo: false, responsive: true, showLink: false});
    el.setAttribute("data-drawn", "1");
  });
});
