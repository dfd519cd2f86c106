/* Booking page script: no dependencies, no external requests; talks only to /book/{slug}/... (same origin).
 * Flow: [questions] -> pick a day -> pick a time (a hold is taken) -> details -> confirm (Idempotency-Key) ->
 * confirmation. The event type's questions come first: their answers (answers.<id>) may route the visitor
 * to another rep, so they go with every slots, hold and booking request.
 * Everything shown comes from textContent (never innerHTML), so no visitor or server text becomes markup. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("booking-config").textContent);
  var RANGE_DAYS = 14;
  var PAGE_CONTEXT = ["recordType", "recordId", "company"];
  var query = new URLSearchParams(window.location.search);
  var $ = function (id) { return document.getElementById(id); };

  var page = window.SchedulingPage;  // common.js: dates in the visitor's zone, nodes built from text
  var detectZone = page.detectZone, isoDateIn = page.isoDateIn, addDays = page.addDays;
  var dayLabel = page.dayLabel, el = page.el;

  var detected = detectZone();
  var state = {
    zone: detected,
    today: null,
    rangeStart: null,
    slots: [],
    day: null,
    hold: null,
    holdTimer: null,
    holdExpired: false,
    pending: null, // {key, body}: an unanswered booking request, retried with the same Idempotency-Key
    retry: null,
    email: null, // asked first when the event type routes by email (config.asksEmail)
    loads: 0,
    answers: {} // question id -> answer, once the questions step is done
  };
  var QUESTIONS = config.questions || [];

  // ---- context passed by a Dynamics form (recordType, recordId, name, email, company) ----------------
  var context = {};
  PAGE_CONTEXT.forEach(function (name) {
    var value = (query.get(name) || "").trim();
    if (value) { context[name] = value; }
  });

  // ---- small helpers ----------------------------------------------------------------------------------
  function timeLabel(instant) { return page.timeLabel(instant, state.zone); }

  function whenLabel(start, end) {
    return dayLabel(start.slice(0, 10), "long") + ", " + timeLabel(start) + " – " + timeLabel(end) +
      " (" + state.zone.replace(/_/g, " ") + ")";
  }

  function zoneOffset(zone, at) {
    try {
      var part = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
        .formatToParts(at).filter(function (p) { return p.type === "timeZoneName"; })[0];
      return part ? part.value : "";
    } catch (e) { return ""; }
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function say(text) { $("status").textContent = text; }

  function clearAlert() {
    var alert = $("alert");
    alert.hidden = true;
    alert.textContent = "";
    state.retry = null;
  }

  function showAlert(text, retry) {
    var alert = $("alert");
    alert.textContent = "";
    alert.appendChild(el("p", {}, text));
    if (retry) {
      state.retry = retry;
      var button = el("button", { type: "button", id: "retry", "class": "secondary" }, "Try again");
      button.addEventListener("click", function () { var again = state.retry; clearAlert(); again(); });
      alert.appendChild(button);
    }
    alert.hidden = false;
  }

  // ---- the API ----------------------------------------------------------------------------------------
  function api(method, path, body, headers) {
    var init = { method: method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    return fetch(config.api + path, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var parse = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
      return parse.then(function (data) {
        return { ok: response.ok, status: response.status, data: data,
                 retryAfter: Number(response.headers.get("Retry-After") || 0) };
      });
    }, function () {
      return { ok: false, status: 0, data: null, retryAfter: 0 };
    });
  }

  function problemText(result, fallback) {
    if (result.status === 0) {
      return "We could not reach the booking service. Check your connection and try again.";
    }
    if (result.status === 503) {
      return "The booking service is unavailable right now. Please try again in a moment.";
    }
    if (result.status === 404) {
      return "This meeting type is no longer available for booking.";
    }
    if (result.status === 429) {
      // The page's abuse limits (too-many-holds, rate-limited): say when trying again makes sense.
      var wait = Math.max(1, Math.ceil(result.retryAfter / 60));
      return ((result.data && result.data.detail) || "Too many requests.") + " Please try again in " +
        wait + (wait === 1 ? " minute." : " minutes.");
    }
    return (result.data && result.data.detail) || fallback;
  }

  // ---- time zone --------------------------------------------------------------------------------------
  function fillZones() {
    var select = $("tz");
    var zones = [];
    try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { zones = []; }
    if (!zones.length) {
      zones = ["America/Los_Angeles", "America/Chicago", "America/New_York", "Europe/London", "Europe/Paris",
               "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney"];
    }
    if (zones.indexOf("UTC") < 0) { zones = ["UTC"].concat(zones); }
    if (zones.indexOf(detected) < 0) { zones = [detected].concat(zones); }
    var now = new Date();
    zones.forEach(function (zone) {
      var offset = zoneOffset(zone, now);
      var option = el("option", { value: zone }, zone.replace(/_/g, " ") + (offset ? " (" + offset + ")" : ""));
      select.appendChild(option);
    });
    select.value = state.zone;
    updateZoneHint();
    select.addEventListener("change", function () {
      state.zone = select.value;
      updateZoneHint();
      state.today = isoDateIn(state.zone, new Date());
      if (state.rangeStart < state.today) { state.rangeStart = state.today; }
      loadSlots({ keepDay: true });
    });
  }

  function updateZoneHint() {
    $("tz-hint").textContent = state.zone === detected
      ? "Detected from your device. Times below are shown in this time zone."
      : "Times below are shown in this time zone.";
  }

  // ---- days and times ---------------------------------------------------------------------------------
  function rangeEnd() { return addDays(state.rangeStart, RANGE_DAYS - 1); }

  function lastBookableDay() {
    return config.bookingWindowDays ? addDays(state.today, config.bookingWindowDays) : addDays(state.today, 365);
  }

  function contextQuery() {
    var out = [];
    Object.keys(context).forEach(function (k) {
      if (k !== "company") { out.push([k, context[k]]); }
    });
    if (state.email) { out.push(["email", state.email]); } // routes by who the visitor is (issue 15)
    return out;
  }

  function loadSlots(options) {
    options = options || {};
    if (!options.keepAlert) { clearAlert(); }
    var wanted = options.keepDay ? state.day : null;
    var params = new URLSearchParams([["start", state.rangeStart], ["end", rangeEnd()], ["timeZone", state.zone]]
      .concat(contextQuery()).concat(answersQuery()));
    say("Looking for free times…");
    $("range-label").textContent = dayLabel(state.rangeStart) + " – " + dayLabel(rangeEnd());
    $("prev-range").disabled = state.rangeStart <= state.today;
    $("next-range").disabled = addDays(state.rangeStart, RANGE_DAYS) > lastBookableDay();
    var load = ++state.loads;
    return api("GET", "/slots?" + params.toString()).then(function (result) {
      if (load !== state.loads) { return null; } // a newer load (zone or range change) superseded this one
      if (answersRefused(result)) {
        askAgain(result.data);
        return null;
      }
      if (!result.ok) {
        say("");
        state.slots = [];
        renderDays(null);
        showAlert(problemText(result, "We could not load free times."), function () { loadSlots(options); });
        return null;
      }
      state.slots = result.data.slots;
      var days = renderDays(wanted);
      if (!days.length && options.autoAdvance && !$("next-range").disabled) {
        state.rangeStart = addDays(state.rangeStart, RANGE_DAYS);
        return loadSlots({ autoAdvance: options.autoAdvance - 1 });
      }
      say(days.length
        ? days.length + (days.length === 1 ? " day has" : " days have") + " free times. Times are in " +
          state.zone.replace(/_/g, " ") + "."
        : "No free times in these dates.");
      return result;
    });
  }

  function slotsByDay() {
    var byDay = {};
    state.slots.forEach(function (slot) {
      var day = slot.start.slice(0, 10); // rendered in the visitor's zone by the server
      (byDay[day] = byDay[day] || []).push(slot);
    });
    return byDay;
  }

  function renderDays(wanted) {
    var list = $("days");
    list.textContent = "";
    var byDay = slotsByDay();
    var days = Object.keys(byDay).sort();
    days.forEach(function (day) {
      var count = byDay[day].length;
      var button = el("button", { type: "button", "data-day": day, "aria-pressed": "false" });
      button.appendChild(el("span", {}, dayLabel(day)));
      button.appendChild(el("small", {}, count + (count === 1 ? " time" : " times")));
      button.addEventListener("click", function () { selectDay(day); });
      var item = el("li");
      item.appendChild(button);
      list.appendChild(item);
    });
    $("no-days").hidden = days.length > 0;
    if (wanted && byDay[wanted]) {
      selectDay(wanted);
    } else {
      state.day = null;
      $("day-slots").hidden = true;
      $("slots").textContent = "";
    }
    return days;
  }

  function slotButton(slot) {
    var button = el("button", { type: "button", "data-start": slot.start, "aria-pressed": "false" },
      timeLabel(slot.start));
    button.setAttribute("aria-label", timeLabel(slot.start) + " to " + timeLabel(slot.end) + ", " +
      dayLabel(slot.start.slice(0, 10), "long"));
    button.addEventListener("click", function () { pick(slot); });
    return button;
  }

  function selectDay(day) {
    state.day = day;
    Array.prototype.forEach.call($("days").querySelectorAll("button"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-day") === day ? "true" : "false");
    });
    var list = $("slots");
    list.textContent = "";
    var slots = slotsByDay()[day] || [];
    slots.forEach(function (slot) {
      var item = el("li");
      item.appendChild(slotButton(slot));
      list.appendChild(item);
    });
    $("slots-day").textContent = dayLabel(day, "long");
    $("day-slots").hidden = false;
    say(slots.length + (slots.length === 1 ? " free time" : " free times") + " on " + dayLabel(day, "long") + ".");
  }

  function showAlternatives(around) {
    var target = new Date(around).getTime();
    var nearest = state.slots.slice().sort(function (a, b) {
      return Math.abs(new Date(a.start).getTime() - target) - Math.abs(new Date(b.start).getTime() - target);
    }).slice(0, 3).sort(function (a, b) { return a.start < b.start ? -1 : 1; });
    var list = $("alternative-slots");
    list.textContent = "";
    nearest.forEach(function (slot) {
      var item = el("li");
      var button = slotButton(slot);
      button.textContent = dayLabel(slot.start.slice(0, 10)) + ", " + timeLabel(slot.start);
      item.appendChild(button);
      list.appendChild(item);
    });
    $("alternatives").hidden = nearest.length === 0;
    if (nearest.length) { list.querySelector("button").focus(); }
    return nearest.length;
  }

  // ---- hold ----------------------------------------------------------------------------------------------
  function setSlotsDisabled(disabled) {
    Array.prototype.forEach.call(document.querySelectorAll("#slots button, #alternative-slots button"),
      function (b) { b.disabled = disabled; });
  }

  function releaseHold() {
    if (state.hold) {
      api("DELETE", "/holds/" + encodeURIComponent(state.hold.id));
    }
    window.clearTimeout(state.holdTimer);
    state.hold = null;
    state.holdExpired = false;
  }

  function pick(slot) {
    clearAlert();
    releaseHold();
    setSlotsDisabled(true);
    say("Holding " + timeLabel(slot.start) + " for you…");
    var holdBody = { start: slot.start, timeZone: state.zone, context: routingContext(), answers: state.answers };
    if (state.email) { holdBody.invitee = { email: state.email }; }
    return api("POST", "/holds", holdBody)
      .then(function (result) {
        setSlotsDisabled(false);
        if (result.status === 201) {
          holdTaken(result.data);
          return;
        }
        if (result.status === 409) {
          slotTaken(slot.start, "Sorry, " + dayLabel(slot.start.slice(0, 10)) + " at " + timeLabel(slot.start) +
            " was just taken by someone else.");
          return;
        }
        if (answersRefused(result)) {
          askAgain(result.data);
          return;
        }
        say("");
        showAlert(problemText(result, "We could not hold that time."), function () { pick(slot); });
      });
  }

  function holdTaken(hold) {
    state.hold = hold;
    state.holdExpired = false;
    state.pending = null;
    $("alternatives").hidden = true;
    window.clearTimeout(state.holdTimer);
    var wait = Math.max(0, new Date(hold.expiresAt).getTime() - Date.now());
    state.holdTimer = window.setTimeout(function () {
      state.holdExpired = true;
      say("Your hold on this time has expired. Confirming will try to hold it again.");
    }, wait);
    $("held-summary").textContent = whenLabel(hold.start, hold.end) + ". We hold this time for you until " +
      timeLabel(hold.expiresAt) + ".";
    $("step-time").hidden = true;
    $("step-details").hidden = false;
    say("Time held until " + timeLabel(hold.expiresAt) + ". Enter your details to confirm.");
    $("details-heading").focus();
  }

  function slotTaken(start, message) {
    releaseHold();
    $("step-details").hidden = true;
    $("step-time").hidden = false;
    showAlert(message + " We refreshed the free times; the nearest ones are listed below.");
    var day = start.slice(0, 10);
    state.day = day;
    return loadSlots({ keepDay: true, keepAlert: true }).then(function (result) {
      if (result && !showAlternatives(start)) {
        showAlert(message + " There are no other free times in these dates; try later dates.");
      }
    });
  }

  // ---- details and booking ----------------------------------------------------------------------------
  function routingContext() {
    var out = Object.assign({}, context);
    delete out.company;
    return out;
  }

  function buildExtraFields() {
    var holder = $("extra-fields");
    (config.fields || []).forEach(function (field) {
      var parts = field.name.split(".");
      if (parts[0] === "context" && context[parts[1]]) { return; } // already given by the Dynamics form
      if (field.name === "context.company") {
        $("f-company").required = true;
        var optional = document.querySelector("label[for=f-company] .optional");
        if (optional) { optional.remove(); }
        return;
      }
      var id = "f-" + field.name.replace(/[^A-Za-z0-9]+/g, "-");
      var wrap = el("div", { "class": "field" });
      wrap.appendChild(el("label", { "for": id }, field.label));
      var input = el("input", { id: id, name: field.name, required: "", "aria-describedby": id + "-error" });
      if (field.name === "invitee.phone") {
        input.type = "tel";
        input.autocomplete = "tel";
      }
      wrap.appendChild(input);
      var error = el("p", { "class": "error", id: id + "-error" });
      error.hidden = true;
      wrap.appendChild(error);
      holder.appendChild(wrap);
    });
  }

  function inputs() { return Array.prototype.slice.call($("details").querySelectorAll("input")); }

  function setFieldError(input, message) {
    var error = $(input.getAttribute("aria-describedby"));
    if (message) {
      input.setAttribute("aria-invalid", "true");
      error.textContent = message;
      error.hidden = false;
    } else {
      input.removeAttribute("aria-invalid");
      error.textContent = "";
      error.hidden = true;
    }
  }

  function checkFields() {
    var invalid = [];
    inputs().forEach(function (input) {
      var value = input.value.trim();
      var message = "";
      if (input.required && !value) {
        message = "Enter your " + $("details").querySelector("label[for=" + input.id + "]").firstChild
          .textContent.trim().toLowerCase() + ".";
      } else if (input.type === "email" && value && value.indexOf("@") < 1) {
        message = "Enter an email address like name@example.com.";
      }
      setFieldError(input, message);
      if (message) { invalid.push(input); }
    });
    return invalid;
  }

  function bookingBody() {
    var body = { start: state.hold.start, timeZone: state.zone, holdId: state.hold.id,
                 invitee: {}, context: routingContext(), answers: Object.assign({}, state.answers) };
    inputs().forEach(function (input) {
      var parts = input.name.split(".");
      var value = input.value.trim();
      if (value) { body[parts[0]][parts[1]] = value; }
    });
    return body;
  }

  function submit(event) {
    if (event) { event.preventDefault(); }
    clearAlert();
    var invalid = checkFields();
    if (invalid.length) {
      say("Please correct the highlighted fields.");
      invalid[0].focus();
      return Promise.resolve();
    }
    if (state.holdExpired) { return rehold(); }
    var body = JSON.stringify(bookingBody());
    if (!state.pending || state.pending.body !== body) { state.pending = { key: newKey(), body: body }; }
    return send(state.pending, 0);
  }

  function rehold() {
    var start = state.hold.start;
    say("Holding the time again…");
    var body = { start: start, timeZone: state.zone, context: routingContext(), answers: state.answers };
    if (state.email) { body.invitee = { email: state.email }; }
    return api("POST", "/holds", body)
      .then(function (result) {
        if (result.status === 201) {
          state.hold = null;
          holdTaken(result.data);
          return submit();
        }
        if (result.status === 409) {
          return slotTaken(start, "Your hold expired and the time was taken in the meantime.");
        }
        if (answersRefused(result)) {
          return askAgain(result.data);
        }
        showAlert(problemText(result, "We could not hold that time again."), rehold);
      });
  }

  function send(pending, attempt) {
    var button = $("confirm");
    button.disabled = true;
    say("Confirming your booking…");
    return api("POST", "/bookings", pending.body, { "Idempotency-Key": pending.key }).then(function (result) {
      button.disabled = false;
      if (result.status === 201) {
        state.pending = null;
        window.clearTimeout(state.holdTimer);
        state.hold = null;
        confirmed(result.data);
        return;
      }
      if (result.status === 409 && result.data && result.data.code === "idempotency-in-progress" && attempt < 3) {
        return new Promise(function (resolve) {
          window.setTimeout(resolve, Math.max(1, result.retryAfter) * 1000);
        }).then(function () { return send(pending, attempt + 1); });
      }
      if (result.status === 0 || result.status >= 500) {
        // Unanswered: the same body is retried with the same Idempotency-Key, so it can never book twice.
        say("");
        showAlert(problemText(result, "The booking could not be confirmed."), function () { send(pending, 0); });
        return;
      }
      state.pending = null;
      var code = result.data && result.data.code;
      var start = state.hold.start;
      if (code === "hold-expired") {
        return slotTaken(start, "Your hold on " + dayLabel(start.slice(0, 10)) + " at " + timeLabel(start) +
          " expired before the booking was confirmed.");
      }
      if (result.status === 409) {
        return slotTaken(start, "Sorry, " + dayLabel(start.slice(0, 10)) + " at " + timeLabel(start) +
          " is no longer available.");
      }
      if (answersRefused(result)) {
        askAgain(result.data);
        return;
      }
      if (result.status === 422 && result.data && result.data.errors) {
        fieldErrors(result.data);
        return;
      }
      say("");
      showAlert(problemText(result, "The booking could not be confirmed."));
    });
  }

  function fieldErrors(problem) {
    var unmatched = [];
    var first = null;
    problem.errors.forEach(function (error) {
      var input = $("details").querySelector('input[name="' + error.field.replace(/"/g, "") + '"]');
      if (input) {
        setFieldError(input, error.message);
        first = first || input;
      } else {
        unmatched.push(error.field + ": " + error.message);
      }
    });
    say("Please correct the highlighted fields.");
    if (unmatched.length) { showAlert(problem.detail + " " + unmatched.join("; ")); }
    if (first) { first.focus(); }
  }

  function confirmed(booking) {
    $("step-details").hidden = true;
    $("step-time").hidden = true;
    $("done-title").textContent = booking.title;
    $("done-when").textContent = whenLabel(booking.start, booking.end);
    $("done-where").textContent = booking.location.label + (booking.location.value ? ": " + booking.location.value : "");
    $("done-who").textContent = booking.invitee.name + " (" + booking.invitee.email + ")";
    $("done-id").textContent = booking.id;
    $("ics").href = booking.calendarUrl;
    if (booking.manageUrl) { $("manage").href = booking.manageUrl; $("manage").hidden = false; }
    showJoinLink(booking);
    $("step-done").hidden = false;
    say("Booking confirmed. A calendar invitation is on its way to " + booking.invitee.email + ".");
    $("done-heading").focus();
    if (booking.location.kind === "teams" && !booking.joinUrl) { pollJoinUrl(booking.id, 5); }
  }

  function showJoinLink(booking) {
    var join = $("join");
    if (booking.joinUrl) {
      join.href = booking.joinUrl;
      join.hidden = false;
      $("join-later").hidden = true;
    } else {
      join.hidden = true;
      $("join-later").hidden = booking.location.kind !== "teams";
    }
  }

  function pollJoinUrl(id, left) {
    if (!left) { return; }
    window.setTimeout(function () {
      api("GET", "/bookings/" + encodeURIComponent(id)).then(function (result) {
        if (result.ok && result.data.joinUrl) { showJoinLink(result.data); } else { pollJoinUrl(id, left - 1); }
      });
    }, 4000);
  }

  // ---- questions (before slots) -----------------------------------------------------------------------
  var INPUT_TYPES = { email: "email", phone: "tel", number: "number", text: "text" };

  function buildQuestions() {
    var holder = $("question-fields");
    QUESTIONS.forEach(function (q) {
      var id = "q-" + q.id.replace(/[^A-Za-z0-9_-]+/g, "-");
      var wrap = el("div", { "class": "field" });
      var label = el("label", { "for": id }, q.label);
      if (!q.required) { label.appendChild(el("span", { "class": "optional" }, " (optional)")); }
      wrap.appendChild(label);
      var input;
      if (q.kind === "select") {
        input = el("select", { id: id, name: "answers." + q.id, "aria-describedby": id + "-error" });
        input.appendChild(el("option", { value: "" }, "Choose…"));
        q.options.forEach(function (option) { input.appendChild(el("option", { value: option }, option)); });
      } else {
        input = el("input", { id: id, name: "answers." + q.id, "aria-describedby": id + "-error" });
        input.type = INPUT_TYPES[q.kind] || "text";
        if (q.kind === "number") { input.step = "any"; }
        if (q.kind === "email") { input.autocomplete = "email"; }
        if (q.kind === "phone") { input.autocomplete = "tel"; }
      }
      input.required = !!q.required;
      wrap.appendChild(input);
      var error = el("p", { "class": "error", id: id + "-error" });
      error.hidden = true;
      wrap.appendChild(error);
      holder.appendChild(wrap);
    });
  }

  function questionInputs() {
    return Array.prototype.slice.call($("questions").querySelectorAll("input, select"));
  }

  function checkQuestions() {
    var invalid = [];
    questionInputs().forEach(function (input) {
      var value = input.value.trim();
      var label = $("questions").querySelector("label[for=" + input.id + "]").firstChild.textContent.trim();
      var message = "";
      if (input.required && !value) {
        message = (input.tagName === "SELECT" ? "Choose " : "Answer ") + label.toLowerCase() + ".";
      } else if (input.type === "email" && value && value.indexOf("@") < 1) {
        message = "Enter an email address like name@example.com.";
      } else if (input.type === "number" && input.validity && input.validity.badInput) {
        message = "Enter a number.";
      }
      setFieldError(input, message);
      if (message) { invalid.push(input); }
    });
    return invalid;
  }

  function submitQuestions(event) {
    if (event) { event.preventDefault(); }
    clearAlert();
    var invalid = checkQuestions();
    if (invalid.length) {
      say("Please answer the highlighted questions.");
      invalid[0].focus();
      return;
    }
    state.answers = {};
    questionInputs().forEach(function (input) {
      var value = input.value.trim();
      if (value) { state.answers[input.name.slice("answers.".length)] = value; }
    });
    state.slots = [];
    renderDays(null); // the previous answers' days and times are another rep's: never click on them
    $("step-questions").hidden = true;
    $("step-time").hidden = false;
    $("time-heading").focus();
    afterQuestions();
  }

  function answersQuery() {
    return Object.keys(state.answers).map(function (k) { return ["answers." + k, state.answers[k]]; });
  }

  function questionInput(field) {
    return $("questions").querySelector('[name="' + field.replace(/"/g, "") + '"]');
  }

  /* A 422 naming one of the questions (answers.<id>): ask again, whatever step the visitor is on. */
  function answersRefused(result) {
    return result.status === 422 && !!(result.data && result.data.errors) &&
      result.data.errors.some(function (e) { return e.field.indexOf("answers.") === 0 && questionInput(e.field); });
  }

  function askAgain(problem) {
    releaseHold();
    showQuestions();
    problem.errors.forEach(function (error) {
      var input = questionInput(error.field);
      if (input) { setFieldError(input, error.message); }
    });
    say("Please check your answers.");
  }

  function showQuestions() {
    $("step-details").hidden = true;
    $("step-time").hidden = true;
    $("step-questions").hidden = false;
    $("questions-heading").focus();
  }

  // ---- start ------------------------------------------------------------------------------------------
  function start() {
    state.today = isoDateIn(state.zone, new Date());
    state.rangeStart = state.today;
    fillZones();
    buildExtraFields();
    [["name", "f-name"], ["email", "f-email"], ["company", "f-company"]].forEach(function (pair) {
      var value = (query.get(pair[0]) || "").trim();
      if (value) { $(pair[1]).value = value; }
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
    $("details").addEventListener("submit", submit);
    $("questions").addEventListener("submit", submitQuestions);
    $("change-answers").addEventListener("click", function () {
      releaseHold();
      clearAlert();
      showQuestions();
    });
    $("change-time").addEventListener("click", function () {
      releaseHold();
      clearAlert();
      $("step-details").hidden = true;
      $("step-time").hidden = false;
      loadSlots({ keepDay: true });
      $("time-heading").focus();
    });
    if (QUESTIONS.length) {
      buildQuestions();
      $("change-answers").hidden = false;
      $("step-time").hidden = true;
      $("step-questions").hidden = false;
      say("Answer a few questions to see free times.");
      return;
    }
    afterQuestions();
  }

  // After the questions (or with none): the email step when the event type routes by email, then times.
  function afterQuestions() {
    if (config.asksEmail && !context.recordId && !state.email) {
      askEmailFirst();
    } else {
      loadSlots({ autoAdvance: 4 });
    }
  }

  // The event type routes by the visitor's email (a contact, a lead or their company's account): ask for
  // it before showing times, so the times are the right rep's.
  function askEmailFirst() {
    var input = $("f-first-email");
    input.value = $("f-email").value;
    $("step-time").hidden = true;
    $("step-email").hidden = false;
    $("email-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var value = input.value.trim();
      var error = $("f-first-email-error");
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
        error.textContent = "Enter your business e-mail address.";
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      state.email = value;
      $("f-email").value = value;
      $("step-email").hidden = true;
      $("step-time").hidden = false;
      $("time-heading").focus();
      loadSlots({ autoAdvance: 4 });
    });
    $("email-heading").focus();
  }

  start();
})();
