/* A room's calendar (booking/calendar.html): FullCalendar reads its events from the
   URL in the element's data-events, in the page's language (data-locale). Its arrows
   are images without a text alternative inside buttons named by their title: they are
   hidden from assistive technologies (RGAA 1.2); a month's day is named by its whole
   content, not by its date alone (WCAG 2.5.3: the name holds what the cell shows). */
document.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("room-calendar");
  if (!element) { return; }
  // On a phone seven columns of hours are too narrow to read: the week as a list.
  var phone = window.matchMedia("(max-width: 767px)").matches;
  var calendar = new FullCalendar.Calendar(element, {
    initialView: phone ? "listWeek" : "timeGridWeek",
    locale: element.dataset.locale,
    headerToolbar: {left: "prev,next today", center: "title",
                    right: phone ? "listWeek,dayGridMonth" : "timeGridWeek,dayGridMonth"},
    slotMinTime: "07:00:00", slotMaxTime: "20:00:00", allDaySlot: false, height: "auto",
    firstDay: 1, nowIndicator: true,
    events: element.dataset.events,
    dayCellDidMount: function (info) { info.el.removeAttribute("aria-labelledby"); }
  });
  calendar.render();
  element.querySelectorAll(".fc-icon[role=img]").forEach(function (icon) {
    icon.setAttribute("aria-hidden", "true");
  });
});
