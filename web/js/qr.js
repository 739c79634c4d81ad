/* QR codes: draw the card's code ("parcha:<base64url public key>", as the C
 * card in src/cli/card.c) with qrcode-generator, and read one back from the
 * camera or from an image file (PNG, JPEG or the SVG card) with jsQR, which
 * is loaded only when a scan is asked for. */
export const QR_PREFIX = 'parcha:';

let qrcodeLoaded = null;

/* An SVG string of the QR code for text (the generator is fetched the first
 * time a code is drawn). */
export async function qrSvg(text, title = 'QR code') {
  if (!qrcodeLoaded) qrcodeLoaded = import('../vendor/qrcode.js');
  const qrcode = (await qrcodeLoaded).default;
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 8, scalable: true, title });
}

let jsqrLoaded = null;
function loadJsQR() {
  if (!jsqrLoaded) {
    jsqrLoaded = new Promise((resolve, reject) => {
      if (window.jsQR) return resolve(window.jsQR);
      const s = document.createElement('script');
      s.src = new URL('../vendor/jsQR.js', import.meta.url).href;
      s.onload = () => resolve(window.jsQR);
      s.onerror = () => reject(new Error('The QR reader could not be loaded. Type the Health ID instead.'));
      document.head.appendChild(s);
    });
  }
  return jsqrLoaded;
}

function decodeCanvas(jsQR, canvas) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const r = jsQR(img.data, img.width, img.height, { inversionAttempts: 'attemptBoth' });
  return r ? r.data : null;
}

/* The text of the QR code in an image File, or null if none is found. */
export async function scanFile(file) {
  const jsQR = await loadJsQR();
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.decoding = 'async';
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error('This file is not a picture the browser can open. Use a photo (JPEG or PNG) or the card file.'));
      img.src = url;
    });
    // Try a few sizes: a photo may be huge, an SVG card may be tiny.
    for (const target of [1000, 1600, 600]) {
      const w0 = img.naturalWidth || 800;
      const h0 = img.naturalHeight || 500;
      const scale = target / Math.max(w0, h0);
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(w0 * scale));
      canvas.height = Math.max(1, Math.round(h0 * scale));
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      const text = decodeCanvas(jsQR, canvas);
      if (text) return text;
    }
    return null;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/* Scan from the camera into video; resolves with the text or null when
 * stopped. Returns {promise, stop}. Errors are thrown in words. */
export function scanCamera(video) {
  let stopped = false;
  let stream = null;
  const stop = () => {
    stopped = true;
    if (stream) stream.getTracks().forEach((t) => t.stop());
  };
  const promise = (async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
      throw new Error('This browser cannot use a camera here (the page must be opened over HTTPS or on this computer). Use a photo of the card instead.');
    const jsQR = await loadJsQR();
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    } catch (e) {
      throw new Error('The camera could not be opened (permission refused or no camera). Use a photo of the card instead.');
    }
    video.srcObject = stream;
    await video.play();
    const canvas = document.createElement('canvas');
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 200));
      if (!video.videoWidth) continue;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext('2d', { willReadFrequently: true }).drawImage(video, 0, 0);
      const text = decodeCanvas(jsQR, canvas);
      if (text) {
        stop();
        return text;
      }
    }
    return null;
  })();
  return { promise, stop };
}
