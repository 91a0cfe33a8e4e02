// Show only the fields of the chosen schedule type (the server reads only those anyway).
(function () {
  var select = document.getElementById("f-schedule.type");
  if (!select) { return; }
  function show() {
    var sets = document.querySelectorAll("fieldset.schedule-fields");
    for (var i = 0; i < sets.length; i++) {
      sets[i].hidden = sets[i].getAttribute("data-type") !== select.value;
    }
  }
  select.addEventListener("change", show);
  show();
})();
