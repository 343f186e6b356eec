// datasette-geojson-map draws a page's areas into its table's wrapper and fits the map to them,
// and datasette-vega puts its chart beside the table: with no rows there is no table, no
// wrapper and no bounds, and both logged errors. So a page with no rows gets an empty, hidden
// table in a wrapper (at once, before their handlers run), and a map with nothing to fit
// shows California.
if (!document.querySelector("table.rows-and-columns")) {
  const wrapper = document.createElement("div");
  wrapper.className = "table-wrapper";
  wrapper.innerHTML = '<table class="rows-and-columns" hidden><thead><tr></tr></thead><tbody></tbody></table>';
  (document.querySelector("section.content") || document.body).appendChild(wrapper);
}
// The plugin loads this on every page of a table or a query with no rows, for datasette-vega,
// which is on them all; only a page with Leaflet has a map to fit.
document.addEventListener("DOMContentLoaded", async () => {
  if (!(window.datasette && window.datasette.leaflet)) {
    return;
  }
  const L = await import(window.datasette.leaflet.JAVASCRIPT_URL);
  const fitBounds = L.Map.prototype.fitBounds;
  L.Map.prototype.fitBounds = function (bounds, options) {
    if (bounds && bounds.isValid && !bounds.isValid()) {
      return this.setView([37.5, -120.5], 6);
    }
    return fitBounds.call(this, bounds, options);
  };
});
