/// The console's only script (served as `/static/console.js`): plain JavaScript, no build step.
/// It patches the fleet table from the server's events, writing text only (`textContent`, never
/// HTML), so hostile agent data stays inert.
enum ConsoleScript {
    static let js = """
        "use strict";
        (function () {
          function patch(row, change) {
            ["status", "verdict", "mode", "rtt", "lastSeen", "cpu", "memory", "disk"].forEach(function (field) {
              if (!(field in change)) { return; }
              var cell = row.querySelector('[data-field="' + field + '"]');
              if (!cell) { return; }
              cell.textContent = change[field];
              if (field === "status") {
                cell.className = "status-" + change.status;
                row.setAttribute("data-status", change.status);
              }
            });
            row.classList.add("changed");
            setTimeout(function () { row.classList.remove("changed"); }, 2000);
          }
          var fields = ["name", "status", "verdict", "mode", "rtt", "lastSeen", "os", "version", "cpu", "memory", "disk"];
          function buildRow(values) {
            var row = document.createElement("tr");
            row.id = "agent-" + values.id;
            row.setAttribute("data-test", "agent-row");
            row.setAttribute("data-agent", values.id);
            row.setAttribute("data-status", values.status);
            fields.forEach(function (field) {
              var cell = document.createElement("td");
              cell.setAttribute("data-field", field);
              if (field === "name") {
                var link = document.createElement("a");
                link.href = "/agents/" + encodeURIComponent(values.id);
                link.setAttribute("data-test", "agent-link");
                link.textContent = values.name;
                cell.appendChild(link);
              } else {
                cell.textContent = values[field];
              }
              if (field === "status") { cell.className = "status-" + values.status; }
              row.appendChild(cell);
            });
            return row;
          }
          function add(added) {
            var body = document.getElementById("fleet-rows");
            var old = document.getElementById("agent-" + added.row.id);
            if (old) { old.parentNode.removeChild(old); }
            var empty = document.getElementById("fleet-empty");
            if (empty) { empty.parentNode.removeChild(empty); }
            var row = buildRow(added.row);
            var before = added.after ? document.getElementById("agent-" + added.after) : null;
            if (before) {
              before.parentNode.insertBefore(row, before.nextSibling);
            } else if (added.after) {
              body.appendChild(row);
            } else {
              body.insertBefore(row, body.firstChild);
            }
            row.classList.add("changed");
            setTimeout(function () { row.classList.remove("changed"); }, 2000);
          }
          // The session ended (logout elsewhere, expiry, a revoked token): reload, and the server
          // answers with the login page. A stream the server refused (too many open, an error)
          // says so on the page instead: reloading into a refusal would loop.
          function watchEnd(source) {
            source.addEventListener("ended", function () { source.close(); window.location.reload(); });
            source.addEventListener("error", function () {
              if (source.readyState !== EventSource.CLOSED) { return; }
              var note = document.getElementById("live-notice");
              if (note) { note.textContent = "Live updates stopped; reload the page to resume them."; }
              document.body.setAttribute("data-live", "closed");
            });
          }
          function start() {
            var table = document.getElementById("fleet-table");
            if (!table || !window.EventSource) { return; }
            var ids = [];
            table.querySelectorAll("[data-agent]").forEach(function (row) { ids.push(row.getAttribute("data-agent")); });
            var query = table.getAttribute("data-live-query");
            var url = table.getAttribute("data-live") + "?" + (query ? query + "&" : "") + "ids=" + encodeURIComponent(ids.join(","));
            var source = new EventSource(url);
            source.addEventListener("agent", function (event) {
              var change;
              try { change = JSON.parse(event.data); } catch (e) { return; }
              var row = document.getElementById("agent-" + change.id);
              if (row) { patch(row, change); }
            });
            source.addEventListener("added", function (event) {
              var added;
              try { added = JSON.parse(event.data); } catch (e) { return; }
              if (added && added.row) { add(added); }
            });
            source.addEventListener("gone", function (event) {
              var row = document.getElementById("agent-" + event.data);
              if (row) { row.parentNode.removeChild(row); }
            });
            source.addEventListener("summary", function (event) {
              var line = document.getElementById("fleet-summary");
              try { if (line) { line.textContent = JSON.parse(event.data).text; } } catch (e) { return; }
            });
            watchEnd(source);
            document.body.setAttribute("data-live", "open");
          }
          function cell(row, field) { return row ? row.querySelector('[data-field="' + field + '"]') : null; }
          function startBatch() {
            var table = document.getElementById("batch-commands");
            if (!table || !window.EventSource) { return; }
            var source = new EventSource(table.getAttribute("data-live"));
            source.addEventListener("command", function (event) {
              var change;
              try { change = JSON.parse(event.data); } catch (e) { return; }
              var row = document.getElementById("command-" + change.id);
              if (!row) { return; }
              row.setAttribute("data-state", change.state);
              ["state", "exit", "reason"].forEach(function (field) { var c = cell(row, field); if (c) { c.textContent = change[field]; } });
            });
            source.addEventListener("output", function (event) {
              var chunk;
              try { chunk = JSON.parse(event.data); } catch (e) { return; }
              var pre = cell(document.getElementById("command-" + chunk.id), chunk.stream);
              if (!pre) { return; }
              var shown = parseInt(pre.getAttribute("data-bytes"), 10);
              if (shown !== chunk.offset) { return; }
              pre.textContent += chunk.text;
              pre.setAttribute("data-bytes", String(shown + chunk.bytes));
            });
            source.addEventListener("summary", function (event) {
              var summary = document.getElementById("batch-summary");
              try { summary.textContent = JSON.parse(event.data).text; } catch (e) { return; }
              summary.setAttribute("data-done", "true");
              source.close();
            });
            watchEnd(source);
            document.body.setAttribute("data-live", "open");
          }
          function boot() { start(); startBatch(); }
          if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); } else { boot(); }
        })();
        """
}
