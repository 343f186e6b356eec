// The replay of a period on the map (/-/replay): its configuration is the JSON in #replay-config,
// written by the plugin's replay_page.
const config = JSON.parse(document.getElementById("replay-config").textContent);
// datasette-leaflet ships Leaflet as an ES module.
const L = await import(config.leaflet_js);
const AHEAD = 2;  // frame requests fetched ahead of the one playing
const playButton = document.getElementById("replay-play");
const slider = document.getElementById("replay-slider");
const speed = document.getElementById("replay-speed");
const clock = document.getElementById("replay-clock");
const status = document.getElementById("replay-status");
const period = document.getElementById("replay-period");

const map = L.map("replay-map").setView([37.8, -121.5], 6);
L.tileLayer(config.tiles, {maxZoom: 19, attribution: config.attribution}).addTo(map);
map.createPane("replay-areas").style.zIndex = 390;  // under the outages' circles
const outageLayer = L.featureGroup().addTo(map);
const areaLayer = L.layerGroup().addTo(map);
const markers = new Map();  // outage -> its circle
const areas = new Map();  // area -> its shape
const requests = new Map();  // offset -> promise of the frames from there
let total = null, current = -1, playing = false, timer = null, runs = 0, latest = 0, fitted = false;

outageLayer.on("click", event => {
  const marker = event.layer;
  const link = document.createElement("a");
  link.href = config.outage_url + "/" + marker.outage;
  link.textContent = "Outage " + marker.outage;
  const popup = document.createElement("div");
  popup.append(link, document.createElement("br"),
               (marker.customers || 0).toLocaleString() + " customers");
  L.popup().setLatLng(event.latlng).setContent(popup).openOn(map);
});

function framesUrl(offset) {
  const params = new URLSearchParams({offset: offset, limit: config.limit});
  if (config.from) params.set("from", config.from);
  if (config.to) params.set("to", config.to);
  return config.json_url + "?" + params;
}

function load(offset) {
  if (!requests.has(offset)) {
    const request = fetch(framesUrl(offset)).then(async response => {
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      return body;
    });
    request.catch(() => requests.delete(offset));  // asked again when needed
    requests.set(offset, request);
  }
  return requests.get(offset);
}

function radius(customers) {
  return Math.min(25, 2 + Math.sqrt(customers || 0) / 4);
}

function draw(frames, k) {
  const seen = new Set();
  for (const [outage, latitude, longitude, customers, first, last] of frames.outages) {
    if (k < first || k > last) continue;
    seen.add(outage);
    let marker = markers.get(outage);
    if (marker === undefined) {
      marker = L.circleMarker([latitude, longitude], {
        radius: radius(customers), className: "replay-outage",
        color: "#b2182b", weight: 1, fillColor: "#ef8a62", fillOpacity: 0.6,
      });
      marker.outage = outage;
      marker.customers = customers;
      markers.set(outage, marker);
      outageLayer.addLayer(marker);
      continue;
    }
    if (marker.customers !== customers) {
      marker.customers = customers;
      marker.setRadius(radius(customers));
    }
    const at = marker.getLatLng();
    if (at.lat !== latitude || at.lng !== longitude) marker.setLatLng([latitude, longitude]);
  }
  for (const [outage, marker] of markers) {
    if (!seen.has(outage)) {
      outageLayer.removeLayer(marker);
      markers.delete(outage);
    }
  }
  const seenAreas = new Set();
  for (const [area, , first, last, geometry] of frames.areas) {
    if (k < first || k > last) continue;
    seenAreas.add(area);
    if (!areas.has(area)) {
      const shape = L.geoJSON(geometry, {
        pane: "replay-areas", className: "replay-area", interactive: false,
        style: {color: "#2166ac", weight: 1, fillOpacity: 0.2},
      });
      areas.set(area, shape);
      areaLayer.addLayer(shape);
    }
  }
  for (const [area, shape] of areas) {
    if (!seenAreas.has(area)) {
      areaLayer.removeLayer(shape);
      areas.delete(area);
    }
  }
}

function fitTo(frames) {
  if (fitted || frames.outages.length === 0) return;
  fitted = true;
  map.fitBounds(L.latLngBounds(frames.outages.map(row => [row[1], row[2]])), {padding: [20, 20], maxZoom: 12});
}

// Show frame i. `run`: the play that asks for it, which must not have been paused since.
async function show(i, run) {
  const ticket = ++latest;
  const offset = i - i % config.limit;
  let frames;
  try {
    frames = await load(offset);
  } catch (error) {
    status.textContent = "Could not load the snapshots: " + error.message;
    pause();
    return false;
  }
  if (ticket !== latest) return false;  // a later request to show a frame won
  if (run !== undefined && run !== runs) return false;  // paused on the way: stay on the frame shown
  const k = i - offset;
  if (k >= frames.snapshots.length) return false;
  fitTo(frames);
  draw(frames, k);
  current = i;
  slider.value = i;
  const [id, when, time, outageCount, customers] = frames.snapshots[k];
  clock.textContent = time;
  clock.dateTime = new Date(when * 1000).toISOString();
  status.textContent = outageCount.toLocaleString() + " outages, " + customers.toLocaleString() +
    " customers out (snapshot " + id + ", " + (i + 1).toLocaleString() + " of " + total.toLocaleString() + ")";
  for (let n = 1; n <= AHEAD; n++) {
    if (offset + n * config.limit < total) load(offset + n * config.limit);
  }
  for (const kept of requests.keys()) {
    if (kept < offset - config.limit || kept > offset + AHEAD * config.limit) requests.delete(kept);
  }
  return true;
}

function tick(run) {
  if (!playing || run !== runs) return;  // paused, or played again since
  if (current + 1 >= total) {
    pause();
    return;
  }
  const started = performance.now();
  show(current + 1, run).then(() => {
    if (playing && run === runs) {
      timer = setTimeout(() => tick(run), Math.max(0, 1000 / Number(speed.value) - (performance.now() - started)));
    }
  });
}

function play() {
  if (current + 1 >= total) current = -1;  // from the start again
  playing = true;
  playButton.textContent = "Pause";
  playButton.setAttribute("aria-pressed", "true");
  tick(++runs);
}

function pause() {
  playing = false;
  runs++;
  clearTimeout(timer);
  playButton.textContent = "Play";
  playButton.setAttribute("aria-pressed", "false");
}

playButton.addEventListener("click", () => (playing ? pause() : play()));
slider.addEventListener("input", () => show(Number(slider.value)));

load(0).then(frames => {
  total = frames.total;
  period.textContent = total.toLocaleString() + " trustworthy snapshots from " + frames.from_time +
    " to " + frames.to_time + ".";
  if (total === 0) return;
  slider.max = total - 1;
  slider.disabled = false;
  playButton.disabled = false;
  show(0);
}, error => {
  period.textContent = "Could not load the snapshots: " + error.message;
  period.className = "replay-error";
});
