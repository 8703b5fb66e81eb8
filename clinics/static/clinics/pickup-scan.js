// Pickup handover: scan the patient's QR code with the terminal's camera (html5-qrcode), put
// the signed token it carries into the form and submit it. Typing the 8-digit code works without.
(function () {
  "use strict";
  const form = document.getElementById("pickup-form");
  const button = document.getElementById("scan-start");
  const reader = document.getElementById("qr-reader");
  const status = document.getElementById("scan-status");
  if (!form || !button || !reader || typeof Html5Qrcode === "undefined") {
    return;
  }
  let scanner = null;

  function stop() {
    const running = scanner;
    scanner = null;
    reader.hidden = true;
    button.textContent = button.dataset.idleLabel;
    return running ? running.stop().catch(() => undefined) : Promise.resolve();
  }

  function scanned(text) {
    const value = text.trim();
    if (/^\d{8}$/.test(value)) {
      form.elements.code.value = value;
    } else {
      form.elements.token.value = value;
    }
    stop().then(() => form.requestSubmit());
  }

  button.addEventListener("click", () => {
    if (scanner) {
      stop();
      return;
    }
    reader.hidden = false;
    button.textContent = button.dataset.scanningLabel;
    scanner = new Html5Qrcode(reader.id);
    scanner
      .start({ facingMode: "environment" }, { fps: 10, qrbox: 240 }, scanned, () => undefined)
      .catch((error) => {
        status.textContent = String(error);
        stop();
      });
  });
})();
