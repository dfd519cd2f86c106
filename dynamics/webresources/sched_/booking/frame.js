/* sched_/booking/frame.js — frames the booking page inside booking.html.
 * Only a booking page URL is framed: https (or http on localhost for development) and a path ending in
 * /book/{event type}; anything else shows a message instead, so the web resource cannot be used to
 * frame arbitrary sites inside Dynamics. */
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

  function isBookingPage(url) {
    var loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1";
    var schemeOk = url.protocol === "https:" || (url.protocol === "http:" && loopback);
    return schemeOk && /\/book\/[a-z0-9][a-z0-9-]{0,63}$/.test(url.pathname);
  }

  var raw = bookingUrlFromData();
  if (!raw) {
    problem("Open this page with the Schedule meeting command on a record.");
    return;
  }
  var url;
  try { url = new URL(raw); } catch (e) { url = null; }
  if (!url || !isBookingPage(url)) {
    problem("This is not a booking page address: " + raw);
    return;
  }
  var frame = document.getElementById("booking");
  frame.src = url.href;
  frame.hidden = false;
})();
