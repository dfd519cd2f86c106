/* sched_/booking/frame.js — frames the booking page inside booking.html.
 * Only a booking page URL is framed: on the configured origin (the <meta name="sched-booking-page-origin">
 * of booking.html; https, or http on localhost for development) with a path ending in /book/{event type}.
 * Anything else shows a message instead, so the web resource cannot be used to frame other sites — or
 * other pages of a site — inside Dynamics. The iframe is sandboxed in booking.html. */
(function () {
  "use strict";

  function problem(text) {
    var p = document.getElementById("problem");
    p.textContent = text;
    p.hidden = false;
  }

  function bookingUrlFromData() {
    var data = new URLSearchParams(window.location.search).get("data") || "";
    return new URLSearchParams(data).get("url");
  }

  function configuredOrigin() {
    var meta = document.querySelector('meta[name="sched-booking-page-origin"]');
    var value = meta ? (meta.getAttribute("content") || "").trim() : "";
    if (!value) { return null; }
    try { return new URL(value).origin; } catch (e) { return null; }
  }

  function isBookingPage(url, origin) {
    var loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1";
    var schemeOk = url.protocol === "https:" || (url.protocol === "http:" && loopback);
    return schemeOk && url.origin === origin && !url.username && !url.password &&
      /\/book\/[a-z0-9][a-z0-9-]{0,63}$/.test(url.pathname);
  }

  var origin = configuredOrigin();
  if (!origin) {
    problem("The booking page address is not configured for this environment.");
    return;
  }
  var raw = bookingUrlFromData();
  if (!raw) {
    problem("Open this page with the Schedule meeting command on a record.");
    return;
  }
  var url;
  try { url = new URL(raw); } catch (e) { url = null; }
  if (!url || !isBookingPage(url, origin)) {
    problem("This is not a booking page address: " + raw);
    return;
  }
  var frame = document.getElementById("booking");
  frame.src = url.href;
  frame.hidden = false;
})();
