// Locker kiosk: webcam capture, liveness challenge, one-time key, key pad; staff registration.
// Frames are JPEGs taken from the <video> at CAPTURE_FPS and posted together with their
// capture times; the server runs the challenge, identification and key issue.
"use strict";

const CAPTURE_FPS = 12;
const ACCESS_SECONDS = 9;
const REGISTER_SECONDS = 3;
const STEP_TEXT = {
  blink: "Blink",
  turn_left: "Turn your head to your left, then back",
  turn_right: "Turn your head to your right, then back",
};

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

function framesForm(captured) {
  const form = new FormData();
  captured.frames.forEach((blob, i) => form.append("frames", blob, `frame${i}.jpg`));
  form.append("timestamps_ms", captured.stamps.join(","));
  return form;
}

async function runAccess(video) {
  $("start").disabled = true;
  $("step-key").hidden = true;
  try {
    const ch = await fetch("/v1/lockers/access/challenge", { method: "POST" });
    if (!ch.ok) throw new Error(await errorText(ch));
    const challenge = await ch.json();
    const steps = challenge.steps.map((s) => STEP_TEXT[s] || s);
    $("instructions").textContent = "Please: " + steps.join(" → ");
    const captured = await captureFrames(video, ACCESS_SECONDS, (t) => {
      $("instructions").textContent =
        "Please: " + steps.join(" → ") + ` (${Math.max(0, ACCESS_SECONDS - t).toFixed(0)} s)`;
    });
    $("instructions").textContent = "Checking…";
    const form = framesForm(captured);
    form.append("challenge_id", challenge.id);
    const r = await fetch("/v1/lockers/access", { method: "POST", body: form });
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
    headers: { "Content-Type": "application/json" },
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
  try {
    await startCamera(video);
  } catch (e) {
    say("Camera not available: " + (e.message || e), true);
  }
  if (page === "kiosk-access") {
    $("start").addEventListener("click", () => runAccess(video));
    $("open-form").addEventListener("submit", openLocker);
  } else if (page === "kiosk-register") {
    $("register-form").addEventListener("submit", (e) => runRegister(e, video));
  }
});
