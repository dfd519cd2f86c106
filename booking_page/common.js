/* Shared by the booking page (booking.js) and the manage page (manage.js): dates in the visitor's time
 * zone and DOM nodes built from text. No dependencies, no requests; loaded first (both scripts `defer`,
 * so they run in document order). Everything shown goes through textContent (never innerHTML). */
(function () {
  "use strict";

  // "09:00" where the clock is 24-hour, "9:00 AM" (not "09:00 AM") where it is 12-hour.
  var HOUR = (function () {
    var cycle = new Intl.DateTimeFormat(undefined, { hour: "numeric" }).resolvedOptions().hourCycle;
    return cycle === "h11" || cycle === "h12" ? "numeric" : "2-digit";
  })();

  function detectZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }

  function isoDateIn(zone, date) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }

  function addDays(isoDate, days) {
    var d = new Date(isoDate + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  function dayLabel(isoDate, style) {
    var opts = style === "long"
      ? { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }
      : { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" };
    return new Intl.DateTimeFormat(undefined, opts).format(new Date(isoDate + "T12:00:00Z"));
  }

  function timeLabel(instant, zone) {
    return new Intl.DateTimeFormat(undefined, { hour: HOUR, minute: "2-digit", timeZone: zone })
      .format(new Date(instant));
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  window.SchedulingPage = Object.freeze({
    detectZone: detectZone,
    isoDateIn: isoDateIn,
    addDays: addDays,
    dayLabel: dayLabel,
    timeLabel: timeLabel,
    el: el
  });
})();
