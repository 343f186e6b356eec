// The map on an outage's own page: the point and area in #outage-location, written by the
// plugin's outage_page_vars.
const place = JSON.parse(document.getElementById("outage-location").textContent);
// datasette-leaflet ships Leaflet as an ES module.
const L = await import(place.leaflet_js);
const map = L.map("outage-map");
L.tileLayer(place.tiles, {maxZoom: 19, attribution: place.attribution}).addTo(map);
let bounds = null;
if (place.latitude !== null && place.longitude !== null) {
  L.marker([place.latitude, place.longitude]).addTo(map);
  bounds = L.latLngBounds([[place.latitude, place.longitude]]);
}
if (place.area) {
  const area = L.geoJSON(place.area, {style: {color: "#2166ac", weight: 2, fillOpacity: 0.2}}).addTo(map);
  bounds = bounds ? bounds.extend(area.getBounds()) : area.getBounds();
}
if (bounds) {
  map.fitBounds(bounds, {padding: [30, 30], maxZoom: 14});
} else {
  map.setView([37.8, -121.5], 6);
}
