// astra web: live progress and logs. Polls the JSON API once a second; no other behaviour.
"use strict";

(function () {
  var FINAL = ["done", "failed", "stopped", "error", "not run"];
  var PERIOD = 1000;

  function getJSON(url, done) {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 200) { done(JSON.parse(request.responseText)); } else { done(null); }
    };
    request.onerror = function () { done(null); };
    request.send();
  }

  // Put a run's or batch's counts into the element holding its progress bar and fields.
  function fill(element, data) {
    if (!element || !data) { return; }
    var bar = element.querySelector("progress");
    if (bar) {
      var finished = (data.done || 0) + (data.failed || 0) + (data.skipped || 0);
      bar.max = data.total || 1;
      bar.value = data.total ? finished : (data.percent === 100 ? 1 : 0);
    }
    var fields = Array.prototype.slice.call(element.querySelectorAll("[data-field]"));
    if (element.hasAttribute("data-field")) { fields.push(element); }
    for (var i = 0; i < fields.length; i++) {
      var name = fields[i].getAttribute("data-field");
      if (name === "hostpid" && "host" in data) {
        fields[i].textContent = (data.host || "") + " · " + (data.pid || "");
        continue;
      }
      if (!(name in data)) { continue; }
      var value = data[name];
      if (name === "percent") { value = value + "%"; }
      if ((name === "ended" || name === "started") && value) { value = value.replace("T", " ").replace(/\.\d+Z$/, "").replace("Z", ""); }
      fields[i].textContent = value === null || value === undefined ? "" : value;
      if (name === "state") { fields[i].className = "state state-" + String(value).replace(/ /g, "-"); }
    }
  }


  // The runs list: refresh the rows of active runs.
  function pollRunsTable(table) {
    var rows = table.querySelectorAll("tr[data-active]");
    if (!rows.length) { return; }
    var ids = [];
    for (var i = 0; i < rows.length; i++) { ids.push(rows[i].getAttribute("data-run-id")); }
    getJSON(table.getAttribute("data-api") + "?ids=" + ids.join(","), function (data) {
      if (data) {
        data.runs.forEach(function (run) {
          var row = table.querySelector('tr[data-run-id="' + run.id + '"]');
          fill(row, run);
          if (row && FINAL.indexOf(run.state) >= 0) { row.removeAttribute("data-active"); }
        });
      }
      setTimeout(function () { pollRunsTable(table); }, PERIOD);
    });
  }

  function cell(row, child) {
    var td = document.createElement("td");
    if (child) { td.appendChild(child); }
    row.appendChild(td);
    return td;
  }

  function span(field, text) {
    var element = document.createElement("span");
    element.setAttribute("data-field", field);
    element.textContent = text || "";
    return element;
  }

  // A batch that appeared after the page was drawn (the run was still finding its spectra).
  function addBatchRow(tbody, batch) {
    if (!tbody) { return null; }
    var row = document.createElement("tr");
    row.setAttribute("data-batch-id", batch.id);
    var link = document.createElement("a");
    link.href = location.pathname.replace(/\/$/, "") + "/batches/" + batch.id;
    link.textContent = batch.id;
    cell(row, link);
    cell(row).textContent = batch.summary || batch.task_id;
    row.lastChild.className = "members";
    cell(row, span("state", batch.state));
    var progress = document.createElement("span");
    progress.className = "progress";
    progress.appendChild(document.createElement("progress"));
    var percent = span("percent", "");
    percent.className = "percent";
    progress.appendChild(percent);
    cell(row, progress);
    var counts = cell(row);
    ["done", "failed", "skipped", "total"].forEach(function (name, i) {
      counts.appendChild(span(name, ""));
      counts.appendChild(document.createTextNode([" done, ", " failed, ", " skipped of ", ""][i]));
    });
    cell(row, span("hostpid", ""));
    cell(row, span("message", ""));
    tbody.appendChild(row);
    return row;
  }

  // A run's page: its counts and each batch row.
  function pollRun(element) {
    getJSON(element.getAttribute("data-run-poll"), function (data) {
      var again = true;
      if (data) {
        fill(element.querySelector(".summary"), data.run);
        fill(element.querySelector("p.message"), {message: data.run.message || ""});
        fill(element.querySelector("table.details"), {ended: data.run.ended, started: data.run.started,
                                                       host: data.run.host, user: data.run.user, pid: data.run.pid});
        fill(element.querySelector("h2.batches-title"), {batches: data.run.batches});
        data.batches.forEach(function (batch) {
          var row = element.querySelector('tr[data-batch-id="' + batch.id + '"]');
          if (!row) { row = addBatchRow(element.querySelector("table.batches tbody"), batch); }
          fill(row, batch);
        });
        var link = element.querySelector("[data-failures-link]");
        if (link) { link.textContent = data.failures + " failed (table, retry)"; }
        var stop = element.querySelector("[data-stop]");
        if (FINAL.indexOf(data.run.state) >= 0) {
          again = false;
          if (stop) { stop.disabled = true; }
        }
      }
      if (again) { setTimeout(function () { pollRun(element); }, PERIOD); }
    });
  }

  function pollBatch(element) {
    getJSON(element.getAttribute("data-batch-poll"), function (data) {
      if (data) { fill(element, data.batch); }
      if (!data || FINAL.indexOf(data.batch.state) < 0) { setTimeout(function () { pollBatch(element); }, PERIOD); }
    });
  }

  // A live log: append what was written since the last poll; follow the end if asked.
  function pollLog(pre, offset, quietPolls) {
    var follow = pre.parentNode.querySelector("[data-autoscroll]");
    getJSON(pre.getAttribute("data-log-url") + "?offset=" + offset, function (data) {
      var next = offset;
      var finished = false;
      if (data) {
        if (data.text) {
          pre.appendChild(document.createTextNode(data.text));
          pre.setAttribute("data-lines", String(pre.textContent.split("\n").length - 1));
          if (follow && follow.checked) { pre.scrollTop = pre.scrollHeight; }
        }
        next = data.offset;
        finished = FINAL.indexOf(data.state) >= 0 && !data.text;
      }
      quietPolls = finished ? quietPolls + 1 : 0;
      if (quietPolls < 3) { setTimeout(function () { pollLog(pre, next, quietPolls); }, PERIOD); }
    });
  }

  function checkAll(box) {
    box.addEventListener("change", function () {
      var boxes = box.closest("table").querySelectorAll('tbody input[type="checkbox"]:not(:disabled)');
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = box.checked; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-runs-table]").forEach(pollRunsTable);
    document.querySelectorAll("[data-run-poll][data-active]").forEach(pollRun);
    document.querySelectorAll("[data-batch-poll][data-active]").forEach(pollBatch);
    document.querySelectorAll("pre[data-log-url]").forEach(function (pre) { pollLog(pre, -1, 0); });
    document.querySelectorAll("[data-check-all]").forEach(checkAll);
  });
}());
