// Locker kiosk: webcam capture, liveness challenge, one-time key, key pad; staff registration.
// Frames are JPEGs taken from the <video> at CAPTURE_FPS with their capture times; the server
// runs the challenge (frames streamed in batches), identification and key issue.
"use strict";

const CAPTURE_FPS = 15;
const BATCH = 4;  // send when this many frames wait (one request at a time)
const MAX_BATCH = 10;  // at most this many frames per request (a backlog is thinned)
const MAX_ACCESS_SECONDS = 60;  // the server decides before this (5 paced steps take up to ~35 s)
const KEEP_EVERY = 8;  // one frame in 8 (about 2 a second) is kept for identification
const MAX_ID_FRAMES = 9;
const REGISTER_SECONDS = 3;
function $(id) { return document.getElementById(id); }

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "ok";
}

async function startCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  video.srcObject = stream;
  await video.play();
  const placeholder = document.getElementById("camera-placeholder");
  if (placeholder) placeholder.hidden = true;
}

function grab(video, canvas) {
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

async function captureFrames(video, seconds, onTick) {
  const canvas = document.createElement("canvas");
  const frames = [];
  const stamps = [];
  const t0 = performance.now();
  const interval = 1000 / CAPTURE_FPS;
  while (performance.now() - t0 < seconds * 1000) {
    const started = performance.now();
    frames.push(await grab(video, canvas));
    stamps.push(Math.round(started - t0));
    if (onTick) onTick((started - t0) / 1000);
    const wait = interval - (performance.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return { frames, stamps };
}

async function errorText(response) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || response.statusText;
  } catch (e) {
    return response.statusText;
  }
}

function csrfHeader() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? { "X-CSRF-Token": meta.content } : {};
}

// The kiosk's key is in an HttpOnly cookie (set at /kiosk/lockers/setup); the server accepts that
// cookie only with this header, which a form on another site cannot send.
const KIOSK = { "X-FaceGate-Kiosk": "1" };

function framesForm(captured) {
  const form = new FormData();
  captured.frames.forEach((blob, i) => form.append("frames", blob, `frame${i}.jpg`));
  form.append("timestamps_ms", captured.stamps.join(","));
  return form;
}

async function runAccess(video) {
  // The challenge is opened first and the camera right after, so the server sees the attempt
  // from its beginning; frames are streamed in small batches until the server decides. A few
  // frames spread over the attempt are then sent for identification (the server also checks
  // that they show the face that did the challenge).
  $("start").disabled = true;
  $("step-key").hidden = true;
  say("", false);
  const canvas = document.createElement("canvas");
  const keep = [];  // {blob, t} of every KEEP_EVERY-th frame, for identification
  try {
    const ch = await fetch("/v1/lockers/access/challenge", { method: "POST", headers: KIOSK });
    if (!ch.ok) throw new Error(await errorText(ch));
    const challenge = await ch.json();
    // Server-paced: no step is known yet; each answer may reveal the next one (at a random
    // moment), to be started at once. Frames are streamed while captured (server clock).
    $("instructions").textContent = "Look at the camera…";
    if (!video.srcObject) await startCamera(video);
    let state = { status: "pending", steps_done: 0 };
    let failure = null;
    const queue = [];
    let sending = false;
    const flush = async () => {
      // One request at a time, at most MAX_BATCH frames each; frames captured meanwhile wait.
      if (sending) return;
      sending = true;
      try {
        while (state.status === "pending" && !failure && queue.length >= BATCH) {
          // everything captured since the last request, thinned evenly to MAX_BATCH frames and
          // ending with the newest (the server judges timing on its own clock)
          const all = queue.splice(0, queue.length);
          const batch = all.length <= MAX_BATCH ? all : Array.from({ length: MAX_BATCH },
            (_, i) => all[Math.round((all.length - 1) * i / (MAX_BATCH - 1))]);
          const form = new FormData();
          batch.forEach((f, i) => form.append("frames", f.blob, `frame${i}.jpg`));
          form.append("timestamps_ms", batch.map((f) => f.t).join(","));
          const url = `/v1/lockers/access/challenge/${encodeURIComponent(challenge.id)}/frames`;
          const r = await fetch(url, { method: "POST", body: form, headers: KIOSK });
          if (!r.ok) { failure = new Error(await errorText(r)); return; }
          state = await r.json();
          const now = state.instruction || "Look at the camera…";
          $("instructions").textContent = `${now} (${state.steps_done}/${state.steps_total} done)`;
          $("instructions").dataset.step = (state.instruction && state.steps.length)
            ? state.steps[state.steps.length - 1] : "";
          $("instructions").dataset.revealed = String(state.steps.length);
        }
      } catch (e) {
        failure = e;
      } finally {
        sending = false;
      }
    };
    const t0 = performance.now();
    const interval = 1000 / CAPTURE_FPS;
    let next = t0;
    let n = 0;
    while (state.status === "pending" && !failure &&
           performance.now() - t0 < MAX_ACCESS_SECONDS * 1000) {
      const now = performance.now();
      if (now < next) await new Promise((r) => setTimeout(r, next - now));
      const t = Math.round(performance.now() - t0);
      const blob = await grab(video, canvas);
      queue.push({ blob, t });
      if (n % KEEP_EVERY === 0) keep.push({ blob, t });
      n += 1;
      if (queue.length >= BATCH) flush();
      next = Math.max(next + interval, performance.now() + interval / 2);
    }
    while (sending) await new Promise((r) => setTimeout(r, 50));
    if (failure) throw failure;
    $("instructions").textContent = "Checking…";
    const form = new FormData();
    keep.slice(-MAX_ID_FRAMES).forEach((f, i) => form.append("frames", f.blob, `id${i}.jpg`));
    form.append("challenge_id", challenge.id);
    const r = await fetch("/v1/lockers/access", { method: "POST", body: form, headers: KIOSK });
    if (!r.ok) throw new Error(await errorText(r));
    const result = await r.json();
    $("granted").textContent = `Welcome, customer ${result.customer_id}: locker ${result.locker}.`;
    $("key").textContent = result.key;
    $("open-locker").value = result.locker;
    $("step-key").hidden = false;
    $("instructions").textContent = "";
    say("Enter the key on the key pad to open your locker.", false);
  } catch (e) {
    $("instructions").textContent = "";
    say(String(e.message || e), true);
  } finally {
    $("start").disabled = false;
  }
}

async function openLocker(event) {
  event.preventDefault();
  const locker = $("open-locker").value;
  const key = $("open-key").value;
  const r = await fetch(`/v1/lockers/${encodeURIComponent(locker)}/open`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...KIOSK },
    body: JSON.stringify({ key }),
  });
  $("open-key").value = "";
  if (!r.ok) { say(await errorText(r), true); return; }
  const body = await r.json();
  $("key").textContent = "";
  say(`Locker ${body.locker} is open.`, false);
}

async function runRegister(event, video) {
  event.preventDefault();
  const formEl = event.target;
  const button = formEl.querySelector("button");
  button.disabled = true;
  try {
    say("Capturing…", false);
    const captured = await captureFrames(video, REGISTER_SECONDS);
    const form = framesForm(captured);
    for (const name of ["customer_id", "name", "contact", "locker"]) {
      const value = formEl.elements[name].value.trim();
      if (value) form.append(name, value);
    }
    say("Registering…", false);
    const r = await fetch("/v1/lockers/register", {
      method: "POST", body: form, headers: csrfHeader(), credentials: "same-origin",
    });
    if (!r.ok) throw new Error(await errorText(r));
    const body = await r.json();
    say(`Registered ${body.customer.customer_id} on locker ${body.locker} ` +
        `(${body.samples_accepted} face samples).`, false);
  } catch (e) {
    say(String(e.message || e), true);
  } finally {
    button.disabled = false;
  }
}

window.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  const video = $("video");
  if (page === "kiosk-register") {
    try {
      await startCamera(video);
    } catch (e) {
      say("Camera not available: " + (e.message || e), true);
    }
  }
  if (page === "kiosk-access") {
    $("start").addEventListener("click", () => runAccess(video));
    $("open-form").addEventListener("submit", openLocker);
  } else if (page === "kiosk-register") {
    $("register-form").addEventListener("submit", (e) => runRegister(e, video));
  }
});
