/* Manage page script: the invitee's booking behind a manage link, with Reschedule and Cancel.
 * No dependencies, no external requests; talks only to /manage/{token}/... (same origin).
 * Everything shown comes from textContent (never innerHTML), so no server text becomes markup. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("manage-config").textContent);
  var RANGE_DAYS = 14;
  var $ = function (id) { return document.getElementById(id); };
  var page = window.SchedulingPage;  // common.js: dates in the visitor's zone, nodes built from text
  var detectZone = page.detectZone, isoDateIn = page.isoDateIn, addDays = page.addDays;
  var dayLabel = page.dayLabel, el = page.el;
  var state = { zone: detectZone(), booking: null, today: null, rangeStart: null, slots: [], day: null, pick: null };

  function timeLabel(instant) { return page.timeLabel(instant, state.zone); }

  function whenLabel(start, end) {
    return dayLabel(isoDateIn(state.zone, new Date(start)), "long") + ", " + timeLabel(start) + " – " +
      timeLabel(end) + " (" + state.zone.replace(/_/g, " ") + ")";
  }

  function say(text) { $("status").textContent = text; }

  function clearAlert() { $("alert").hidden = true; $("alert").textContent = ""; }

  function showAlert(text) {
    $("alert").textContent = "";
    $("alert").appendChild(el("p", {}, text));
    $("alert").hidden = false;
  }

  function api(method, path, body) {
    var init = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(config.api + path, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var parse = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
      return parse.then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
    }, function () { return { ok: false, status: 0, data: null }; });
  }

  function problemText(result, fallback) {
    if (result.status === 0) { return "We could not reach the booking service. Check your connection and try again."; }
    if (result.status === 503) { return "The booking service is unavailable right now. Please try again in a moment."; }
    if (result.status === 404) { return "This link is not valid any more."; }
    return (result.data && result.data.detail) || fallback;
  }

  function show(step) {
    ["step-booking", "step-time", "step-cancel"].forEach(function (id) { $(id).hidden = id !== step; });
  }

  // ---- the booking -----------------------------------------------------------------------------------
  function render(booking) {
    state.booking = booking;
    var cancelled = booking.status === "cancelled";
    $("b-status").textContent = cancelled ? "Cancelled" : "Confirmed";
    $("b-when").textContent = whenLabel(booking.start, booking.end);
    $("b-where").textContent = booking.location.label + (booking.location.value ? ": " + booking.location.value : "");
    $("b-id").textContent = booking.id;
    if (booking.joinUrl && !cancelled) { $("join").href = booking.joinUrl; $("join").hidden = false; } else { $("join").hidden = true; }
    $("reschedule").hidden = !booking.canReschedule;
    $("cancel").hidden = !booking.canCancel;
    var closed = !cancelled && !booking.canReschedule && !booking.canCancel;
    $("closed").hidden = !closed;
    $("closed").textContent = closed ? "This booking can no longer be changed here. Please contact the organizer." : "";
    ["move-optional", "cancel-optional"].forEach(function (id) { $(id).hidden = !!booking.requireReason; });
    $("move-reason").required = !!booking.requireReason;
    $("cancel-reason").required = !!booking.requireReason;
  }

  function load() {
    say("Loading your booking…");
    return api("GET", "/booking").then(function (result) {
      if (!result.ok) { say(""); showAlert(problemText(result, "We could not load the booking.")); return; }
      say("");
      render(result.data);
    });
  }

  // ---- time zone -------------------------------------------------------------------------------------
  function fillZones() {
    var select = $("tz");
    var zones = [];
    try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { zones = []; }
    if (zones.indexOf("UTC") < 0) { zones = ["UTC"].concat(zones); }
    if (zones.indexOf(state.zone) < 0) { zones.push(state.zone); }
    zones.forEach(function (zone) {
      var option = el("option", { value: zone }, zone.replace(/_/g, " "));
      if (zone === state.zone) { option.selected = true; }
      select.appendChild(option);
    });
    select.addEventListener("change", function () {
      state.zone = select.value;
      if (state.booking) { render(state.booking); }
      if (!$("step-time").hidden) { $("move").hidden = true; loadSlots(); }
      say("Times are shown in " + state.zone.replace(/_/g, " ") + ".");
    });
  }

  // ---- reschedule ------------------------------------------------------------------------------------
  function loadSlots() {
    var end = addDays(state.rangeStart, RANGE_DAYS - 1);
    $("range-label").textContent = dayLabel(state.rangeStart) + " – " + dayLabel(end);
    $("prev-range").disabled = state.rangeStart <= state.today;
    say("Loading free times…");
    var params = new URLSearchParams({ start: state.rangeStart, end: end, timeZone: state.zone });
    return api("GET", "/slots?" + params.toString()).then(function (result) {
      if (!result.ok) { say(""); showAlert(problemText(result, "We could not load free times.")); return; }
      say("");
      state.slots = result.data.slots;
      renderDays();
    });
  }

  function renderDays() {
    var days = [];
    state.slots.forEach(function (slot) {
      var day = slot.start.slice(0, 10);
      if (days.indexOf(day) < 0) { days.push(day); }
    });
    var list = $("days");
    list.textContent = "";
    $("no-days").hidden = days.length > 0;
    $("day-slots").hidden = true;
    days.forEach(function (day) {
      var button = el("button", { type: "button", "aria-pressed": "false", "data-day": day });
      button.appendChild(el("span", {}, dayLabel(day)));
      button.addEventListener("click", function () { selectDay(day); });
      var item = el("li");
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  function selectDay(day) {
    state.day = day;
    Array.prototype.forEach.call($("days").querySelectorAll("button"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-day") === day));
    });
    var list = $("slots");
    list.textContent = "";
    state.slots.filter(function (s) { return s.start.slice(0, 10) === day; }).forEach(function (slot) {
      var button = el("button", { type: "button", "aria-pressed": "false", "data-start": slot.start }, timeLabel(slot.start));
      button.setAttribute("aria-label", timeLabel(slot.start) + " to " + timeLabel(slot.end) + ", " + dayLabel(day, "long"));
      button.addEventListener("click", function () { pick(slot, button); });
      var item = el("li");
      item.appendChild(button);
      list.appendChild(item);
    });
    $("slots-day").textContent = dayLabel(day, "long");
    $("day-slots").hidden = false;
    $("move").hidden = true;
  }

  function pick(slot, button) {
    state.pick = slot;
    Array.prototype.forEach.call($("slots").querySelectorAll("button"), function (b) {
      b.setAttribute("aria-pressed", String(b === button));
    });
    $("move-summary").textContent = "New time: " + whenLabel(slot.start, slot.end);
    $("move").hidden = false;
    $("move-reason").focus();
  }

  function reasonOf(input, errorId) {
    var value = input.value.trim();
    var error = $(errorId);
    if (!value && state.booking.requireReason) {
      error.textContent = "Please give a reason.";
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return null;
    }
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    return value;
  }

  function confirmMove(event) {
    event.preventDefault();
    var reason = reasonOf($("move-reason"), "move-reason-error");
    if (reason === null || !state.pick) { return; }
    clearAlert();
    say("Moving your booking…");
    $("confirm-move").disabled = true;
    api("POST", "/reschedule", { start: state.pick.start, reason: reason || null }).then(function (result) {
      $("confirm-move").disabled = false;
      if (!result.ok) {
        say("");
        showAlert(problemText(result, "The booking could not be moved."));
        if (result.status === 409) { loadSlots(); }
        return;
      }
      render(result.data);
      show("step-booking");
      say("Your booking was moved to " + whenLabel(result.data.start, result.data.end) + ". An updated invitation is on its way.");
      $("booking-heading").focus();
    });
  }

  // ---- cancel ----------------------------------------------------------------------------------------
  function confirmCancel(event) {
    event.preventDefault();
    var reason = reasonOf($("cancel-reason"), "cancel-reason-error");
    if (reason === null) { return; }
    clearAlert();
    say("Cancelling your booking…");
    $("confirm-cancel").disabled = true;
    api("POST", "/cancel", { reason: reason || null }).then(function (result) {
      $("confirm-cancel").disabled = false;
      if (!result.ok) { say(""); showAlert(problemText(result, "The booking could not be cancelled.")); return; }
      render(result.data);
      show("step-booking");
      say("Your booking is cancelled.");
      $("booking-heading").focus();
    });
  }

  function start() {
    state.today = isoDateIn(state.zone, new Date());
    state.rangeStart = state.today;
    fillZones();
    $("reschedule").addEventListener("click", function () {
      clearAlert();
      state.today = isoDateIn(state.zone, new Date());
      state.rangeStart = state.today;
      $("move").hidden = true;
      show("step-time");
      $("time-heading").focus();
      loadSlots();
    });
    $("cancel").addEventListener("click", function () {
      clearAlert();
      show("step-cancel");
      $("cancel-heading").focus();
    });
    $("prev-range").addEventListener("click", function () {
      state.rangeStart = addDays(state.rangeStart, -RANGE_DAYS);
      if (state.rangeStart < state.today) { state.rangeStart = state.today; }
      loadSlots();
    });
    $("next-range").addEventListener("click", function () {
      state.rangeStart = addDays(state.rangeStart, RANGE_DAYS);
      loadSlots();
    });
    $("back-from-time").addEventListener("click", function () { show("step-booking"); $("booking-heading").focus(); });
    $("back-from-cancel").addEventListener("click", function () { show("step-booking"); $("booking-heading").focus(); });
    $("move").addEventListener("submit", confirmMove);
    $("cancel-form").addEventListener("submit", confirmCancel);
    load();
  }

  start();
})();
