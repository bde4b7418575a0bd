// 一张图: tickets, problem clusters and hot spots on a Leaflet map (served by the console
// itself; no CDN). Base tiles only when INTAKE_MAP_TILES_URL is set: otherwise the areas and
// points are drawn on a plain background, which works without any network.
"use strict";
(function () {
  const form = document.getElementById("map-filters");
  const summary = document.getElementById("map-summary");
  const map = L.map("map", { preferCanvas: false, zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  map.setView([28.2, 112.97], 13);
  const layers = L.featureGroup().addTo(map);
  let tiles = null;
  const OPEN = new Set(["received", "dispatched", "in_progress", "reopened"]);

  function popup(lines) {
    // Text nodes only: nothing from the database is parsed as HTML.
    const box = document.createElement("div");
    lines.forEach(function (line, i) {
      if (i) box.appendChild(document.createElement("br"));
      if (line && line.href) {
        const link = document.createElement("a");
        link.href = line.href;
        link.textContent = line.text;
        box.appendChild(link);
      } else {
        box.appendChild(document.createTextNode(line));
      }
    });
    return box;
  }

  function draw(data) {
    layers.clearLayers();
    if (data.tiles && !tiles) {
      tiles = L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution || "" }).addTo(map);
    }
    data.areas.forEach(function (area) {
      const street = area.level === "street";
      L.circle([area.lat, area.lon], {
        radius: area.radius_m,
        color: street ? "#868e96" : "#adb5bd",
        weight: street ? 2 : 1,
        dashArray: street ? "6 4" : null,
        fillOpacity: street ? 0.03 : 0.06,
        interactive: false,
        className: "area area-" + area.level,
      })
        .bindTooltip(area.name, { permanent: !street, direction: "center", className: "area-label" })
        .addTo(layers);
    });
    data.tickets.forEach(function (t) {
      const open = OPEN.has(t.status);
      L.circleMarker([t.lat, t.lon], {
        radius: 5,
        color: open ? "#d9480f" : "#2b8a3e",
        weight: t.placed === "exact" ? 2 : 1,
        dashArray: t.placed === "exact" ? null : "2 2",
        fillOpacity: 0.7,
        className: "ticket-point ticket-" + t.placed,
      })
        .bindPopup(popup([
          { href: "/console/tickets/" + encodeURIComponent(t.id), text: t.id },
          t.category + " · " + t.status_label,
          t.area + (t.placed === "exact" ? "" : "（按区域放置）"),
        ]))
        .addTo(layers);
    });
    const hot = new Set(data.hotspots.map(function (h) { return h.id; }));
    data.clusters.forEach(function (c) {
      L.circleMarker([c.lat, c.lon], {
        radius: 8 + Math.min(20, 2 * c.residents),
        color: hot.has(c.id) ? "#c92a2a" : "#1864ab",
        weight: hot.has(c.id) ? 4 : 2,
        fill: false,
        className: hot.has(c.id) ? "cluster-ring hotspot-ring" : "cluster-ring",
      })
        .bindPopup(popup([
          { href: "/console/analytics/clusters/" + encodeURIComponent(c.id), text: "问题 " + c.id },
          c.place + " · " + c.category,
          c.size + " 张工单，" + c.residents + " 位居民" + (hot.has(c.id) ? " · 热点" : ""),
        ]))
        .addTo(layers);
    });
    const bounds = layers.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
    summary.textContent =
      data.tickets.length + " 张工单，" + data.clusters.length + " 个多人反映的问题，" +
      data.hotspots.length + " 个热点" +
      (data.unplaced ? "；" + data.unplaced + " 张没有位置也不知道所在区域，未画出" : "");
    document.getElementById("map").setAttribute("data-loaded", "1");
    window.intakeMapData = data;
  }

  async function load() {
    const params = new URLSearchParams(new FormData(form));
    summary.textContent = "正在加载……";
    try {
      draw(await window.intake.getJSON("/console/api/analytics/map?" + params.toString()));
    } catch (error) {
      summary.textContent = "地图数据没有加载成功，请刷新重试。";
    }
  }

  form.addEventListener("change", load);
  load();
})();
