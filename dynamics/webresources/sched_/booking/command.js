/* sched_/booking/command.js — "Schedule meeting" command for Lead, Contact, Opportunity and Case forms.
 *
 * Command bar (modern command designer or Ribbon Workbench):
 *   Action: Run JavaScript; Library: sched_/booking/command.js; Function: Sched.Booking.openFromForm
 *   Parameters: 1. PrimaryControl   2. String: the event type slug, e.g. "discovery-call"
 *   Visibility / enable rule (optional): Sched.Booking.isEnabled with parameter PrimaryControl
 *
 * It reads the record from the form (entity name, id, primary name, email, company), builds the booking
 * page URL with that context and opens it in a dialog that hosts the web resource
 * sched_/booking/booking.html (which frames the page). The booking page's base URL comes from the
 * Dataverse environment variable sched_BookingPageBaseUrl (e.g. https://contoso-sched.azurewebsites.net/api/book).
 * Nothing secret is involved: the booking page and its API need no key.
 */
var Sched = window.Sched || {};
Sched.Booking = (function () {
  "use strict";

  var ENVIRONMENT_VARIABLE = "sched_BookingPageBaseUrl";
  var WEB_RESOURCE = "sched_/booking/booking.html";

  // Where each supported table keeps the invitee's email and the company, and which lookup leads to a
  // contact when the record itself has no email (opportunity, case).
  var TABLES = {
    lead: { email: "emailaddress1", company: "companyname" },
    contact: { email: "emailaddress1", companyLookup: "parentcustomerid" },
    account: { email: "emailaddress1", companyIsName: true },
    opportunity: { contactLookup: "parentcontactid", companyLookup: "parentaccountid" },
    incident: { contactLookup: "primarycontactid", companyLookup: "customerid" }
  };

  function attributeValue(formContext, name) {
    var attribute = name ? formContext.getAttribute(name) : null;
    return attribute ? attribute.getValue() : null;
  }

  function lookupOf(formContext, name) {
    var value = attributeValue(formContext, name);
    return value && value.length ? value[0] : null; // {id, name, entityType}
  }

  function cleanId(id) {
    return (id || "").replace(/[{}]/g, "").toLowerCase();
  }

  /** The booking context of the record on the form: {recordType, recordId, name, email, company}. */
  function readContext(formContext) {
    var entity = formContext.data.entity;
    var recordType = entity.getEntityName();
    var table = TABLES[recordType] || {};
    var context = {
      recordType: recordType,
      recordId: cleanId(entity.getId()),
      name: entity.getPrimaryAttributeValue() || "",
      email: attributeValue(formContext, table.email) || "",
      company: attributeValue(formContext, table.company) || ""
    };
    if (table.companyIsName) { context.company = context.name; }
    var company = lookupOf(formContext, table.companyLookup);
    if (!context.company && company && company.entityType === "account") { context.company = company.name || ""; }
    var contact = lookupOf(formContext, table.contactLookup);
    if (!contact) { return Promise.resolve(context); }
    // The person to meet is the record's contact: their name and email, read with the user's rights.
    return Xrm.WebApi.retrieveRecord("contact", cleanId(contact.id), "?$select=fullname,emailaddress1")
      .then(function (row) {
        context.name = row.fullname || contact.name || context.name;
        context.email = row.emailaddress1 || context.email;
        return context;
      }, function () {
        context.name = contact.name || context.name;
        return context;
      });
  }

  /** sched_BookingPageBaseUrl: the current value, else the default value of the definition. */
  function baseUrl() {
    var query = "?$select=defaultvalue&$filter=schemaname eq '" + ENVIRONMENT_VARIABLE + "'" +
      "&$expand=environmentvariabledefinition_environmentvariablevalue($select=value)";
    return Xrm.WebApi.retrieveMultipleRecords("environmentvariabledefinition", query).then(function (result) {
      var definition = result.entities[0];
      if (!definition) { throw new Error("The environment variable " + ENVIRONMENT_VARIABLE + " is missing."); }
      var values = definition.environmentvariabledefinition_environmentvariablevalue || [];
      var value = (values[0] && values[0].value) || definition.defaultvalue;
      if (!value) { throw new Error("Set a value for the environment variable " + ENVIRONMENT_VARIABLE + "."); }
      return value.replace(/\/+$/, "");
    });
  }

  /** The booking page URL for `slug` with the record's context (query parameters the page reads). */
  function bookingUrl(base, slug, context) {
    var params = [];
    ["recordType", "recordId", "name", "email", "company"].forEach(function (key) {
      if (context[key]) { params.push(encodeURIComponent(key) + "=" + encodeURIComponent(context[key])); }
    });
    return base + "/" + encodeURIComponent(slug) + (params.length ? "?" + params.join("&") : "");
  }

  function isEnabled(primaryControl) {
    var entity = primaryControl && primaryControl.data && primaryControl.data.entity;
    return !!(entity && entity.getId()); // a record must be saved before it can be the meeting's context
  }

  function openFromForm(primaryControl, eventTypeSlug) {
    if (!isEnabled(primaryControl)) {
      return Xrm.Navigation.openAlertDialog({ text: "Save the record before scheduling a meeting." });
    }
    return Promise.all([baseUrl(), readContext(primaryControl)]).then(function (found) {
      var url = bookingUrl(found[0], eventTypeSlug, found[1]);
      var page = { pageType: "webresource", webresourceName: WEB_RESOURCE, data: "url=" + encodeURIComponent(url) };
      var options = {
        target: 2, // dialog
        position: 1, // centered
        width: { value: 640, unit: "px" },
        height: { value: 85, unit: "%" },
        title: "Schedule meeting"
      };
      return Xrm.Navigation.navigateTo(page, options);
    }).catch(function (error) {
      return Xrm.Navigation.openErrorDialog({ message: "The booking page could not be opened: " + error.message });
    });
  }

  return {
    openFromForm: openFromForm,
    isEnabled: isEnabled,
    readContext: readContext,
    bookingUrl: bookingUrl,
    baseUrl: baseUrl
  };
})();
