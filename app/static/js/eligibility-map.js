/* The eligibility map: the buildings found (data-markers, JSON: lat, lng, imb, label,
   url, connectable) drawn with Leaflet, green when connectable, red when not. Tiles
   come from data-tiles (MAP_TILE_URL) when set; else the markers stand on the plain
   background of the map's box, with a scale to read distances. */
(function () {
  "use strict";
  var box = document.getElementById("eligibility-map");
  if (!box || typeof L === "undefined") {
    return;
  }
  var markers = JSON.parse(box.getAttribute("data-markers") || "[]");
  if (!markers.length) {
    return;
  }
  var text = function (name) { return box.getAttribute("data-text-" + name) || ""; };
  var tiles = box.getAttribute("data-tiles");
  var map = L.map(box, {zoomControl: false, attributionControl: Boolean(tiles)});
  L.control.zoom({zoomInTitle: text("zoom-in"), zoomOutTitle: text("zoom-out")}).addTo(map);
  L.control.scale({imperial: false}).addTo(map);
  if (tiles) {
    L.tileLayer(tiles, {maxZoom: 19, attribution: box.getAttribute("data-attribution") || ""}).addTo(map);
  }
  var points = [];
  markers.forEach(function (marker) {
    var colour = marker.connectable ? "#1e6b24" : "#a3201c";
    var popup = document.createElement("div");
    popup.className = "eligibility-popup";
    var link = document.createElement("a");
    link.href = marker.url;
    link.textContent = marker.imb;
    popup.appendChild(link);
    popup.appendChild(document.createElement("br"));
    popup.appendChild(document.createTextNode(marker.label));
    popup.appendChild(document.createElement("br"));
    popup.appendChild(document.createTextNode(text(marker.connectable ? "connectable" : "not-connectable")));
    L.circleMarker([marker.lat, marker.lng], {radius: 8, color: "#fff", weight: 2, fillColor: colour,
                                              fillOpacity: 0.9})
      .bindPopup(popup).bindTooltip(marker.imb).addTo(map);
    points.push([marker.lat, marker.lng]);
  });
  if (points.length === 1) {
    map.setView(points[0], 18);
  } else {
    map.fitBounds(points, {padding: [24, 24], maxZoom: 18});
  }
}());
