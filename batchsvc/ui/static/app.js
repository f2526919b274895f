// batchsvc dashboard: live batch progress (server-sent events) and uploads. No build step.
"use strict";

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$|Z$/, " UTC") : "—";
}

function followBatch(summary) {
  let source = null;
  const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
  const show = (body) => {
    const job = body.job, pct = body.progress_percentage;
    const bar = document.getElementById("job-progress");
    bar.value = pct; bar.textContent = pct.toFixed(0) + " %";
    set("job-progress-label", pct.toFixed(0) + " %");
    const status = document.getElementById("job-status");
    status.textContent = job.status; status.className = "status status-" + job.status;
    set("count-total", job.total_items); set("count-processed", job.processed_items);
    set("count-failed", job.failed_items); set("count-skipped", job.skipped_items);
    set("count-cancelled", job.cancelled_items);
    set("job-started", when(job.started_at)); set("job-completed", when(job.completed_at));
  };
  const open = () => {
    source = new EventSource(summary.dataset.events);
    source.addEventListener("progress", (e) => show(JSON.parse(e.data)));
    source.addEventListener("end", (e) => {
      show(JSON.parse(e.data));
      source.close();
      // The item table, the actions and the reasons are rendered by the server: refresh once.
      window.location.reload();
    });
  };
  // Each open stream holds a server thread: a tab in the background lets go of its stream.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && source) { source.close(); source = null; }
    else if (!document.hidden && !source) open();
  });
  if (!document.hidden) open();
}

function uploadOne(url, file, list) {
  const row = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name"; name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100; bar.value = 0; bar.setAttribute("aria-label", "upload of " + file.name);
  const state = document.createElement("span");
  state.className = "state"; state.textContent = "0 %";
  row.append(name, bar, state);
  list.append(row);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        const pct = Math.round(100 * e.loaded / e.total);
        bar.value = pct; state.textContent = pct + " %";
      }
    });
    xhr.addEventListener("load", () => {
      let detail = "";
      try { detail = JSON.parse(xhr.responseText).detail || ""; } catch (err) { detail = ""; }
      const ok = xhr.status >= 200 && xhr.status < 300;
      bar.value = ok ? 100 : bar.value;
      state.textContent = ok ? "uploaded" : "failed: " + (typeof detail === "string" ? detail : JSON.stringify(detail));
      row.dataset.state = ok ? "done" : "failed";
      resolve(ok);
    });
    xhr.addEventListener("error", () => {
      state.textContent = "failed: the connection was lost"; row.dataset.state = "failed";
      resolve(false);
    });
    const body = new FormData();
    body.append("upload_file", file, file.name);
    xhr.send(body);
  });
}

function setUpUploads(zone) {
  const input = zone.querySelector('input[type="file"]');
  const list = document.getElementById("upload-list");
  const url = zone.dataset.upload;
  const send = async (files) => {
    const results = await Promise.all(Array.from(files).map((f) => uploadOne(url, f, list)));
    const note = document.getElementById("upload-note");
    note.textContent = results.filter(Boolean).length + " of " + results.length +
      " files uploaded. ";
    const again = document.createElement("a");
    again.href = window.location.pathname; again.textContent = "Refresh the file list";
    note.append(again);
  };
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) send(e.dataTransfer.files);
  });
  // With the script running, the picker uploads at once (each file with its progress).
  const form = zone.closest("form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.files.length) { send(input.files); input.value = ""; }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("summary");
  if (summary && summary.dataset.events && window.EventSource) followBatch(summary);
  const zone = document.getElementById("drop-zone");
  if (zone) setUpUploads(zone);
});
