// TEST-ONLY fake webcam for Playwright (injected with context.add_init_script; never served by
// FaceGate). It replaces navigator.mediaDevices.getUserMedia with a canvas stream that plays the
// frames of a recorded clip like tests/reactive.py's ReactiveSource: it idles on a calm stretch
// and, each time the page shows a newly revealed step (the server-paced challenge's
// data-revealed / data-step attributes on #instruction or #instructions), waits a human-like
// 250-600 ms and plays the clip's segment of that action. The clip's frames and the plan
// (fps, idle stretch, segments per action) are served to this page only, by Playwright's request
// interception under /__reactive__/ (the FaceGate server never sees these requests).
"use strict";
(function () {
  const plan = { ready: false, fps: 15, idle: [0, 0], segments: {}, frames: [] };
  const schedule = [];  // {begin: ms, start: frame, end: frame}
  let seen = 0;
  const t0 = performance.now();

  async function load() {
    const r = await fetch("/__reactive__/plan.json");
    const p = await r.json();
    plan.fps = p.fps; plan.idle = p.idle; plan.segments = p.segments;
    plan.frames = await Promise.all(Array.from({ length: p.count }, (_, i) => new Promise((ok) => {
      const img = new Image();
      img.onload = () => ok(img);
      img.src = "/__reactive__/frame/" + i + ".jpg";
    })));
    plan.ready = true;
  }

  function frameAt(t) {
    const ms = 1000 / plan.fps;
    for (let k = schedule.length - 1; k >= 0; k--) {
      const s = schedule[k];
      if (t >= s.begin) {
        const i = Math.floor((t - s.begin) / ms);
        if (i <= s.end - s.start) return s.start + i;
        break;
      }
    }
    const [a, b] = plan.idle, n = b - a + 1;
    const period = n > 1 ? 2 * n - 2 : 1;
    const i = Math.floor(t / ms) % period;
    return a + (i < n ? i : 2 * n - 2 - i);
  }

  function watch() {
    const el = document.getElementById("instruction") || document.getElementById("instructions");
    if (!el) return;
    const revealed = parseInt(el.dataset.revealed || "0", 10);
    const step = el.dataset.step || "";
    if (revealed > seen && step) {
      seen = revealed;
      const choices = plan.segments[step] || [];
      if (!choices.length) return;  // the clip's person was never filmed doing it
      const [start, end] = choices[Math.floor(Math.random() * choices.length)];
      let begin = performance.now() - t0 + 250 + Math.random() * 350;
      const last = schedule[schedule.length - 1];
      if (last) begin = Math.max(begin, last.begin + (last.end - last.start + 1) * 1000 / plan.fps);
      schedule.push({ begin, start, end });
    }
  }

  const loading = load();
  navigator.mediaDevices.getUserMedia = async function () {
    await loading;
    const canvas = document.createElement("canvas");
    canvas.width = plan.frames[0].naturalWidth;
    canvas.height = plan.frames[0].naturalHeight;
    const ctx = canvas.getContext("2d");
    const draw = () => {
      watch();
      ctx.drawImage(plan.frames[frameAt(performance.now() - t0)], 0, 0);
    };
    draw();
    setInterval(draw, 1000 / 30);
    return canvas.captureStream(30);
  };
})();
