// Register: capture a few webcam frames into the form's file input (or let the user upload).
"use strict";
(function () {
  const video = document.getElementById("video");
  const button = document.getElementById("capture");
  const status = document.getElementById("capture-status");
  const input = document.getElementById("photos");
  const source = document.getElementById("source");
  const canvas = document.createElement("canvas");
  const FRAMES = 5, GAP_MS = 300;
  button.addEventListener("click", async function () {
    button.disabled = true;
    try {
      const stream = await FG.openCamera(video);
      status.textContent = "Look at the camera…";
      await FG.sleep(400);
      const dt = new DataTransfer();
      for (let i = 0; i < FRAMES; i++) {
        const blob = await FG.grabFrame(video, canvas, 0.9);
        dt.items.add(new File([blob], "camera-" + (i + 1) + ".jpg", { type: "image/jpeg" }));
        status.textContent = "Captured " + (i + 1) + " of " + FRAMES;
        await FG.sleep(GAP_MS);
      }
      input.files = dt.files;
      source.value = "camera";
      document.getElementById("register-form").addEventListener("submit", function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
      });
      status.textContent = FRAMES + " camera frames ready: press Create account.";
      status.id = "capture-status";
      status.dataset.ready = "1";
    } catch (e) {
      status.textContent = "Camera unavailable (" + e.name + "): upload photos instead.";
      button.disabled = false;
    }
  });
  input.addEventListener("change", function () { if (!status.dataset.ready) { source.value = "upload"; } });
})();
