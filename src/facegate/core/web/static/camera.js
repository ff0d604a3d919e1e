// Small helpers shared by the register and login pages: open the webcam, grab JPEG frames.
"use strict";
window.FG = window.FG || {};
FG.csrf = function () { return document.querySelector('meta[name="csrf-token"]').content; };
FG.openCamera = async function (video) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  video.srcObject = stream;
  await new Promise(function (resolve) {
    if (video.readyState >= 2) { resolve(); } else { video.onloadeddata = function () { resolve(); }; }
  });
  return stream;
};
FG.grabFrame = function (video, canvas, quality) {
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality || 0.85); });
};
FG.postForm = async function (url, body) {
  const r = await fetch(url, { method: "POST", body: body, credentials: "same-origin",
                               headers: { "X-CSRF-Token": FG.csrf() } });
  let json = {};
  try { json = await r.json(); } catch (e) { json = {}; }
  return { ok: r.ok, status: r.status, json: json };
};
FG.sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };
