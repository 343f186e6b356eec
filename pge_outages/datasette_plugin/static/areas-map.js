// On a page of areas, datasette-geojson-map draws every polygon in the same grey and fits the map
// to them: here each area is shaded by its customers affected (the county map's shades, given by
// the plugin as window.pgeOutages.shades), with a thick outline of the next darker shade so a small one is a
// coloured dot, not a grey speck, when the map shows the whole state; the map fits the areas to a
// quarter zoom step, with a margin. A legend says what the shades mean.
const {shades} = window.pgeOutages;

// The index of the shade for `customers`: the last one whose least it reaches.
function shade(customers) {
  let index = 0;
  shades.forEach(([least], i) => {
    if (customers >= least) index = i;
  });
  return index;
}

function legend(L) {
  const control = L.control({position: "bottomright"});
  control.onAdd = () => {
    const box = L.DomUtil.create("div", "areas-legend");
    box.innerHTML = "<b>Customers affected</b><br>" + shades.map(([least, colour], i) => {
      const next = shades[i + 1];
      const range = next ? `${least.toLocaleString()}–${(next[0] - 1).toLocaleString()}` : `${least.toLocaleString()}+`;
      return `<i style="background:${colour}"></i> ${range}`;
    }).join("<br>");
    return box;
  };
  return control;
}

document.addEventListener("DOMContentLoaded", async () => {
  const L = await import(window.datasette.leaflet.JAVASCRIPT_URL);
  const fitBounds = L.Map.prototype.fitBounds;
  L.Map.prototype.fitBounds = function (bounds, options) {
    // The areas are in a GeoJSON group, whose polygons join the map only once it has a view.
    let areas = 0;
    const style = (layer) => {
      if (layer.feature && layer.setStyle && !(layer instanceof L.LayerGroup)) {
        const customers = Number((layer.feature.properties || {}).estCustAffected) || 0;
        // Outlined in the next darker shade, so that the lightest stand out from the tiles too.
        const index = shade(customers);
        const outline = shades[Math.min(index + 1, shades.length - 1)][1];
        layer.setStyle({color: outline, weight: 3, opacity: 1, fillColor: shades[index][1], fillOpacity: 0.7});
        areas++;
      } else if (layer.eachLayer) {
        layer.eachLayer(style);
      }
    };
    this.eachLayer(style);
    if (areas && !this._pgeLegend) {
      this._pgeLegend = legend(L).addTo(this);
    }
    // A quarter zoom step fits the areas closer than Leaflet's whole steps.
    this.options.zoomSnap = 0.25;
    return fitBounds.call(this, bounds, {padding: [20, 20], ...options});
  };
});
