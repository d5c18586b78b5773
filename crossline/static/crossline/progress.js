// Long work shown live: every [data-progress-url] element polls its JSON endpoint until done.
(function () {
  "use strict";
  var INTERVAL_MS = 1500;

  function setText(box, selector, text) {
    box.querySelectorAll(selector).forEach(function (node) {
      if (text !== undefined && text !== null && node.textContent !== String(text)) {
        node.textContent = text;
      }
    });
  }

  function show(box, state) {
    box.querySelectorAll("progress").forEach(function (bar) { bar.value = state.progress; });
    setText(box, "[data-field=progress]", state.progress + "%");
    setText(box, "[data-field=status]", state.status_label || state.status);
    setText(box, "[data-field=step]", state.step_text);
    // The page's own status field (outside the box) says what the bar says.
    setText(document, "[data-progress-field=status]", state.status_label || state.status);
    var log = box.querySelector("[data-field=log]");
    if (log && typeof state.log === "string" && log.textContent !== state.log) {
      var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = state.log;
      if (atBottom) { log.scrollTop = log.scrollHeight; }
    }
    box.dataset.status = state.status;
  }

  function poll(box) {
    fetch(box.dataset.progressUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (state) {
        show(box, state);
        if (state.done) {
          // The finished page shows the results (metrics, report, download) the JSON does not.
          if (box.dataset.reloadWhenDone === "true") { window.location.reload(); }
          return;
        }
        window.setTimeout(function () { poll(box); }, INTERVAL_MS);
      })
      .catch(function () {
        window.setTimeout(function () { poll(box); }, INTERVAL_MS * 4);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(function (box) {
      if (box.dataset.done !== "true") {
        window.setTimeout(function () { poll(box); }, INTERVAL_MS);
      }
    });
  });
})();
