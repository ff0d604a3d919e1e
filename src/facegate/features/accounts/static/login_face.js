// Login step 2: run the server's liveness challenge on live webcam frames, then finish the login.
// The challenge is server-paced: each answer may reveal the next step (at a random moment), which
// must begin within about a second and a half, so frames are streamed while they are captured:
// JPEGs with performance.now() timestamps (ms), posted every ~0.3 s with the CSRF token. The
// server judges timing on its own clock and decides everything (liveness, same face, 1:1).
"use strict";
(function () {
  const video = document.getElementById("video");
  const instruction = document.getElementById("instruction");
  const bar = document.getElementById("progress-bar");
  const stepsEl = document.getElementById("steps");
  const oval = document.getElementById("oval");
  const errorEl = document.getElementById("face-error");
  const restart = document.getElementById("restart");
  const canvas = document.createElement("canvas");
  const FPS = 15, BATCH = 4, MAX_BATCH = 10;
  let queue = [], sending = false, done = false, stream = null;

  function fail(message) {
    done = true;
    instruction.textContent = "Not logged in";
    errorEl.textContent = message;
    errorEl.hidden = false;
    restart.hidden = false;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  }

  function show(state) {
    if (state.instruction) { instruction.textContent = state.instruction; }
    const total = state.steps_total || 1;
    bar.style.width = Math.round(100 * (state.steps_done || 0) / total) + "%";
    stepsEl.textContent = "Step " + Math.min((state.steps_done || 0) + 1, total) + " of " + total;
    instruction.dataset.state = state.state || "";
    instruction.dataset.step = state.step || "";
    instruction.dataset.revealed = String((state.steps || []).length);
  }

  async function finish() {
    if (done) { return; }
    done = true;
    instruction.textContent = "Checking…";
    const r = await FG.postForm("/login/face/finish", new FormData());
    if (r.ok) {
      oval.classList.add("done");
      bar.style.width = "100%";
      window.location.assign(r.json.redirect || "/dashboard");
    } else {
      done = false;
      fail((r.json.error && r.json.error.message) || "Login failed.");
    }
  }

  function takeBatch() {
    // Everything captured since the last request, thinned to MAX_BATCH frames spread evenly and
    // always ending with the newest: the server judges timing on its clock, so frames must not
    // pile up behind a slow answer.
    const all = queue.splice(0, queue.length);
    if (all.length <= MAX_BATCH) { return all; }
    const out = [];
    for (let i = 0; i < MAX_BATCH; i++) { out.push(all[Math.round((all.length - 1) * i / (MAX_BATCH - 1))]); }
    return out;
  }

  async function flush() {
    // One request at a time; frames captured meanwhile wait for the next one.
    if (sending || done) { return; }
    sending = true;
    try {
      while (!done && queue.length >= BATCH) {
        const batch = takeBatch();
        const form = new FormData();
        form.append("timestamps", JSON.stringify(batch.map(function (f) { return f.t; })));
        batch.forEach(function (f, i) { form.append("frames", f.blob, "frame-" + i + ".jpg"); });
        const r = await FG.postForm("/login/face/frames", form);
        if (!r.ok) { await finish(); return; }
        show(r.json);
        if (r.json.state === "done") { await finish(); return; }
      }
    } finally {
      sending = false;
    }
  }

  async function capture() {
    // Timestamps are taken at capture; frames stay at least half an interval apart even when the
    // page falls behind (the server refuses bursts faster than its frame-rate limit).
    const t0 = performance.now(), interval = 1000 / FPS;
    let next = t0;
    while (!done) {
      const now = performance.now();
      if (now < next) { await FG.sleep(next - now); }
      const t = performance.now();
      const blob = await FG.grabFrame(video, canvas, 0.85);
      queue.push({ blob: blob, t: Math.round(t - t0) });
      if (queue.length >= BATCH) { flush(); }
      next = Math.max(next + interval, performance.now() + interval / 2);
    }
  }

  async function main() {
    // The challenge is opened first and frames are captured from the moment the camera starts,
    // so the server sees the whole attempt from its beginning.
    const r = await FG.postForm("/login/face/start", new FormData());
    if (!r.ok) { fail((r.json.error && r.json.error.message) || "Login failed."); return; }
    try {
      stream = await FG.openCamera(video);
    } catch (e) {
      fail("The camera is needed to log in (" + e.name + ").");
      return;
    }
    show(r.json);
    capture();
  }
  main();
})();
