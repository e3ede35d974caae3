"use strict";
// Shared by the case pages: a photo from the camera is made smaller on the phone before
// it is sent (at most 1600 px on the long side, JPEG), so a report goes through on a
// weak connection and under the gateway's size limit. Anything not an image goes as it is
// (the gateway refuses it with a reason).
async function shrinkPhoto(file) {
  if (!file || !file.type.startsWith("image/") || typeof createImageBitmap !== "function") return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", 0.82));
    return blob ? new File([blob], "photo.jpg", { type: "image/jpeg" }) : file;
  } catch (_err) {
    return file; // a format the browser cannot draw: send it unchanged
  }
}
async function addPhotos(form, input) {
  for (const file of input.files || []) form.append("photos", await shrinkPhoto(file));
}
