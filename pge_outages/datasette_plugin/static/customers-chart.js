// The chart of the customers_over_time canned query: customers affected and outages, full
// width, drawn as the page loads, on a time axis in Pacific time. The plugin's extra_js_urls
// loads it on that page only, after the Vega, Vega-Lite and vega-embed files that
// datasette-dashboards ships (served by Datasette itself: no CDN).
//
// It marks what the line does not show: the spans the scraper did not see (blind, or with no
// evidence either way: the query's unseen_* columns), the runs of suspect snapshots it leaves out,
// and the changes of the feed, where a step in the line is the feed's, not the outages' (both
// from window.pgeOutagesChartMarks, which the plugin's extra_body_script writes).
(function () {
  "use strict";
  var HOUR = 3600 * 1000;
  var DAY = 24 * HOUR;
  var ZONE = "America/Los_Angeles";
  var PARTS = new Intl.DateTimeFormat("en-US", {
    timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23", weekday: "short", timeZoneName: "short",
  });
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // The legend's words for each kind of marked span.
  var KINDS = {
    blind: "blind: the scraper missed changes",
    unknown: "not seen: no evidence either way",
    suspect: "suspect snapshots, left out",
  };
  var marks = window.pgeOutagesChartMarks || {};

  var table = document.querySelector("table.rows-and-columns");
  var json = document.querySelector(".export-links a[href*='.json']");
  if (!table || !json || !window.vega || !window.vegaEmbed) {
    return;
  }

  // The wall clock in Pacific time at `ms`: {year, month, day, hour, minute, weekday, timeZoneName}.
  function pacific(ms) {
    var parts = {};
    PARTS.formatToParts(new Date(ms)).forEach(function (part) { parts[part.type] = part.value; });
    return parts;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // 00:00 Pacific on a calendar date (month 1-12): 08:00 UTC in PST, 07:00 UTC in PDT.
  function midnight(year, month, day) {
    var guess = Date.UTC(year, month - 1, day, 8);
    return pacific(guess).hour === "01" ? guess - HOUR : guess;
  }

  // Ticks on round Pacific times (whole hours, midnights, Mondays, first days of months),
  // at most `wanted` of them, each with its label. Offsets are whole hours, so every
  // Pacific hour starts on a UTC hour.
  function pacificTicks(lo, hi, wanted) {
    var span = Math.max(hi - lo, HOUR);
    var steps = [1, 2, 3, 6, 12];
    for (var i = 0; i < steps.length; i++) {
      if (span / (steps[i] * HOUR) <= wanted) {
        return hourTicks(lo, hi, steps[i]);
      }
    }
    if (span / DAY <= wanted) { return dayTicks(lo, hi, 1); }
    if (span / (2 * DAY) <= wanted) { return dayTicks(lo, hi, 2); }
    if (span / (3 * DAY) <= wanted) { return dayTicks(lo, hi, 3); }
    if (span / (7 * DAY) <= wanted) { return dayTicks(lo, hi, 7); }
    var months = [1, 2, 3, 6, 12];
    for (var j = 0; j < months.length; j++) {
      if (span / (months[j] * 30.5 * DAY) <= wanted) {
        return monthTicks(lo, hi, months[j]);
      }
    }
    return monthTicks(lo, hi, 12 * Math.ceil(span / (365 * DAY) / wanted));
  }

  function hourTicks(lo, hi, step) {
    var ticks = [];
    for (var t = Math.ceil(lo / HOUR) * HOUR; t <= hi; t += HOUR) {
      var p = pacific(t);
      if (Number(p.hour) % step === 0) {
        var date = ticks.length === 0 || p.hour === "00" ? MONTHS[p.month - 1] + " " + Number(p.day) + " " : "";
        ticks.push({value: t, label: date + p.hour + ":00"});
      }
    }
    return ticks;
  }

  function dayTicks(lo, hi, step) {
    var ticks = [];
    var p = pacific(lo);
    for (var date = Date.UTC(Number(p.year), p.month - 1, Number(p.day)); ; date += DAY) {
      var d = new Date(date);
      var t = midnight(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
      if (t > hi) { break; }
      var keep = step === 7 ? d.getUTCDay() === 1 : Math.round(date / DAY) % step === 0;
      if (t >= lo && keep) {
        ticks.push({value: t, label: pacific(t).weekday + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCDate()});
      }
    }
    return ticks;
  }

  function monthTicks(lo, hi, step) {
    var ticks = [];
    var p = pacific(lo);
    for (var year = Number(p.year), month = Number(p.month); ; month++) {
      if (month > 12) { month = 1; year++; }
      var t = midnight(year, month, 1);
      if (t > hi) { break; }
      if (t >= lo && (month - 1) % step === 0) {
        ticks.push({value: t, label: month === 1 || ticks.length === 0 ? MONTHS[month - 1] + " " + year : MONTHS[month - 1]});
      }
    }
    return ticks;
  }

  function tooltipTime(ms) {
    var p = pacific(ms);
    return p.weekday + " " + p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + p.timeZoneName;
  }

  function spec(rows, width) {
    var data = rows.map(function (row) {
      var ms = row.when * 1000;
      return {t: ms, time: tooltipTime(ms), customers: row.customers_affected, outages: row.outage_count};
    });
    var lo = data[0].t;
    var hi = data[data.length - 1].t;
    if (hi - lo < HOUR) { lo -= HOUR / 2; hi += HOUR / 2; }
    // Spans too short to see (one suspect snapshot) are drawn this wide, centred where they are.
    var least = (hi - lo) / 300;
    function span(from, to, kind, note) {
      var middle = (from + to) / 2;
      var half = Math.max(to - from, least) / 2;
      return {from: Math.max(lo, middle - half), to: Math.min(hi, middle + half), kind: kind,
              span: tooltipTime(from) + (to > from ? " to " + tooltipTime(to) : ""), note: note};
    }
    // The stretches the scraper did not see: blind (2) or with no evidence either way (1).
    var spans = rows.filter(function (row) { return row.unseen_from != null; }).map(function (row) {
      return row.unseen === 2
        ? span(row.unseen_from * 1000, row.unseen_to * 1000, KINDS.blind, "the feed's own times show changes it missed")
        : span(row.unseen_from * 1000, row.unseen_to * 1000, KINDS.unknown, "nothing shows whether anything changed");
    });
    // The runs of suspect snapshots, glitches of the feed left out of the line.
    (marks.suspectSpans || []).forEach(function (run) {
      var from = run.from * 1000, to = run.to * 1000;
      if (to >= lo && from <= hi) {
        spans.push(span(from, to, KINDS.suspect, run.snapshots + " suspect snapshot" + (run.snapshots === 1 ? "" : "s") +
                        " (" + run.why + ") left out"));
      }
    });
    // The changes of the feed in the period.
    var changes = (marks.feedChanges || []).filter(function (change) {
      return change.when * 1000 >= lo && change.when * 1000 <= hi;
    }).map(function (change) {
      var when = change.when * 1000;
      // On the chart, the label's first clause: "Layer 5 stops holding the outages that have an area".
      return {t: when, label: change.label, time: change.certainty === "recorded" ? tooltipTime(when) : change.certainty,
              short: change.label.split(":")[0]};
    });
    var ticks = pacificTicks(lo, hi, Math.max(3, Math.floor(width / 120)));
    var labels = {};
    ticks.forEach(function (tick) { labels[tick.value] = tick.label; });
    vega.expressionFunction("pacificTick", function (value) {
      return labels[+value] || "";
    });
    var x = {
      field: "t", type: "temporal", title: "Pacific time",
      scale: {type: "utc", domain: [lo, hi], nice: false},
      axis: {values: ticks.map(function (tick) { return tick.value; }), labelExpr: "pacificTick(datum.value)",
             labelAngle: 0, labelOverlap: true, grid: true},
    };
    var tooltip = [
      {field: "time", title: "Time"},
      {field: "customers", title: "Customers affected", format: ","},
      {field: "outages", title: "Outages", format: ","},
    ];
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: "container",
      height: 320,
      autosize: {type: "fit", contains: "padding"},
      data: {values: data},
      encoding: {x: x},
      layer: [
        {data: {values: spans},
         mark: {type: "rect", opacity: 0.4},
         encoding: {x: Object.assign({}, x, {field: "from"}), x2: {field: "to"},
                    color: {field: "kind", type: "nominal", title: "Marked",
                            scale: {domain: [KINDS.blind, KINDS.unknown, KINDS.suspect],
                                    range: ["#7f8c8d", "#d5dbdb", "#f0b27a"]},
                            legend: spans.length ? {orient: "top", labelLimit: 400} : null},
                    tooltip: [{field: "kind", title: "Marked"}, {field: "span", title: "When"},
                              {field: "note", title: "Why"}]}},
        {data: {values: changes},
         mark: {type: "rule", color: "#6c3483", strokeDash: [6, 3], strokeWidth: 1.5},
         encoding: {tooltip: [{field: "label", title: "Feed change"}, {field: "time", title: "When"}]}},
        {data: {values: changes},
         mark: {type: "text", color: "#6c3483", align: "left", baseline: "top", dx: 4, dy: 4, fontSize: 11, limit: 280},
         encoding: {y: {value: 0}, text: {field: "short"},
                    tooltip: [{field: "label", title: "Feed change"}, {field: "time", title: "When"}]}},
        {mark: {type: "line", color: "#c0392b", interpolate: "step-after"},
         encoding: {y: {field: "customers", type: "quantitative", title: "Customers affected",
                        axis: {titleColor: "#c0392b", format: ",d"}}}},
        {mark: {type: "line", color: "#2471a3", strokeWidth: 1, interpolate: "step-after"},
         encoding: {y: {field: "outages", type: "quantitative", title: "Outages",
                        axis: {titleColor: "#2471a3", orient: "right"}}}},
        {mark: "rule",
         params: [{name: "hover", select: {type: "point", fields: ["t"], nearest: true, on: "pointerover",
                                            clear: "pointerout"}}],
         encoding: {opacity: {condition: {param: "hover", empty: false, value: 0.4}, value: 0}, tooltip: tooltip}},
      ],
      resolve: {scale: {y: "independent"}},
    };
  }

  var holder = document.createElement("div");
  holder.id = "customers-chart";
  holder.style.width = "100%";
  var wrapper = table.closest(".table-wrapper") || table;
  wrapper.parentNode.insertBefore(holder, wrapper);

  var url = json.getAttribute("href");
  url += (url.indexOf("?") === -1 ? "?" : "&") + "_shape=array";
  fetch(url).then(function (response) {
    if (!response.ok) { throw new Error(url + ": " + response.status); }
    return response.json();
  }).then(function (rows) {
    if (!rows.length) {
      holder.textContent = "No trustworthy snapshots in this range.";
      return null;
    }
    var chart = document.createElement("div");
    // vega-embed makes its element inline-block, which a "container" width cannot fill.
    chart.style.cssText = "display: block; width: 100%";
    holder.appendChild(chart);
    return vegaEmbed(chart, spec(rows, holder.clientWidth), {
      renderer: "svg",
      actions: {export: true, source: false, compiled: false, editor: false},
    });
  }).catch(function (error) {
    holder.textContent = "The chart could not be drawn: " + error.message;
  });
})();
