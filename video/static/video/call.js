/* Video consultation: camera and microphone, the room socket, WebRTC, chat.
 *
 * The doctor's page makes the offers; the facility's page answers. Every time the other side
 * (re)appears in the room the doctor starts a new RTCPeerConnection with a new session id, so
 * a reload or a dropped socket on either side ends in a fresh negotiation. Signals of an older
 * session are ignored. The socket reconnects with a fresh room token after a drop; it stops for
 * good when the room is closed, when the token is refused or when another window took over.
 */
(() => {
  "use strict";

  const root = document.querySelector("[data-video-call]");
  if (!root) {
    return;
  }
  const labels = JSON.parse(document.getElementById("video-call-labels").textContent);
  const offerer = root.dataset.side === "doctor";
  const FINAL_CLOSES = new Map([
    [4403, "refused"],
    [4404, "roomClosed"],
    [4409, "replaced"],
    [4410, "roomClosed"],
  ]);
  const find = (selector) => root.querySelector(selector);
  const ui = {
    localVideo: find("#local-video"),
    remoteVideo: find("#remote-video"),
    remoteAudio: find("#remote-audio"),
    roomState: find("#room-state"),
    peerState: find("#peer-state"),
    connectionState: find("#connection-state"),
    notice: find("#call-notice"),
    toggleAudio: find("#toggle-audio"),
    toggleVideo: find("#toggle-video"),
    enableSound: find("#enable-sound"),
    chatLog: find("#chat-log"),
    chatForm: find("#chat-form"),
    chatInput: find("#chat-input"),
  };

  let localStream = null;
  let iceServers = [];
  let socket = null;
  let finished = false;
  let retries = 0;
  let peer = null; // the other side's socket id
  let pc = null;
  let session = null; // the current peer connection's id, shared by both sides
  let pendingCandidates = [];
  let inbox = Promise.resolve(); // room messages are handled one after another

  // --- what the page shows ---------------------------------------------------------------------

  function showConnectionState() {
    ui.connectionState.textContent = pc ? pc.connectionState : "closed";
    ui.connectionState.dataset.session = session || "";
  }

  function notify(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  function report(error) {
    console.warn("video call:", error);
    notify(String(error && error.message ? error.message : error));
  }

  function finish(label) {
    finished = true;
    ui.roomState.textContent = labels[label];
    closePeerConnection();
    if (socket) {
      socket.close(1000);
    }
    if (localStream) {
      localStream.getTracks().forEach((track) => track.stop());
    }
    ui.chatInput.disabled = true;
  }

  // --- camera and microphone -------------------------------------------------------------------

  async function startLocalMedia() {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      ui.localVideo.srcObject = localStream;
      ui.localVideo.play().catch(report);
    } catch (error) {
      console.warn("video call: no camera or microphone", error);
      notify(labels.noMedia);
    }
    ui.toggleAudio.disabled = ui.toggleVideo.disabled = !localStream;
  }

  function toggle(kind) {
    const tracks = kind === "audio" ? localStream.getAudioTracks() : localStream.getVideoTracks();
    const enabled = !tracks.some((track) => track.enabled);
    tracks.forEach((track) => {
      track.enabled = enabled;
    });
    const button = kind === "audio" ? ui.toggleAudio : ui.toggleVideo;
    button.setAttribute("aria-pressed", String(!enabled));
    if (kind === "audio") {
      button.textContent = enabled ? labels.mute : labels.unmute;
    } else {
      button.textContent = enabled ? labels.cameraOff : labels.cameraOn;
    }
    send({ type: "media", kind, enabled });
  }

  // --- the peer connection ---------------------------------------------------------------------

  function closePeerConnection() {
    if (pc) {
      pc.close();
    }
    pc = null;
    session = null;
    pendingCandidates = [];
    ui.remoteVideo.srcObject = null;
    ui.remoteAudio.srcObject = null;
    showConnectionState();
  }

  function newPeerConnection(sessionId) {
    closePeerConnection();
    const connection = new RTCPeerConnection({ iceServers });
    pc = connection;
    session = sessionId;
    if (localStream) {
      localStream.getTracks().forEach((track) => connection.addTrack(track, localStream));
    } else {
      connection.addTransceiver("audio", { direction: "recvonly" });
      connection.addTransceiver("video", { direction: "recvonly" });
    }
    connection.addEventListener("icecandidate", ({ candidate }) => {
      if (candidate && connection === pc) {
        sendSignal(sessionId, { candidate: candidate.toJSON() });
      }
    });
    connection.addEventListener("track", ({ streams }) => {
      if (connection !== pc || !streams[0]) {
        return;
      }
      showRemote(streams[0]);
    });
    connection.addEventListener("connectionstatechange", () => {
      if (connection !== pc) {
        return;
      }
      showConnectionState();
      // A path that stopped working (network change) is renegotiated from scratch.
      if (offerer && connection.connectionState === "failed" && peer) {
        inbox = inbox.then(offer).catch(report);
      }
    });
    showConnectionState();
    return connection;
  }

  function showRemote(stream) {
    if (ui.remoteVideo.srcObject !== stream) {
      ui.remoteVideo.srcObject = stream;
      ui.remoteVideo.play().catch((error) => {
        if (error.name !== "AbortError") {
          report(error); // AbortError: a newer stream replaced this one
        }
      });
    }
    if (ui.remoteAudio.srcObject !== stream) {
      ui.remoteAudio.srcObject = stream;
      // Browsers may refuse sound before the user has interacted with the page.
      ui.remoteAudio.play().then(
        () => {
          ui.enableSound.hidden = true;
        },
        () => {
          ui.enableSound.hidden = false;
        },
      );
    }
  }

  async function offer() {
    const connection = newPeerConnection(crypto.randomUUID());
    await connection.setLocalDescription();
    if (connection === pc) {
      sendSignal(session, { description: connection.localDescription.toJSON() });
    }
  }

  async function addPendingCandidates(connection) {
    const candidates = pendingCandidates;
    pendingCandidates = [];
    for (const candidate of candidates) {
      await connection.addIceCandidate(candidate);
    }
  }

  async function onSignal(from, data) {
    const description = data.description;
    if (description && description.type === "offer" && !offerer) {
      peer = from;
      const connection = newPeerConnection(data.session);
      await connection.setRemoteDescription(description);
      await addPendingCandidates(connection);
      await connection.setLocalDescription();
      if (connection === pc) {
        sendSignal(data.session, { description: connection.localDescription.toJSON() });
      }
    } else if (description && description.type === "answer" && offerer) {
      if (pc && data.session === session) {
        await pc.setRemoteDescription(description);
        await addPendingCandidates(pc);
      }
    } else if (data.candidate && pc && data.session === session) {
      if (pc.remoteDescription) {
        await pc.addIceCandidate(data.candidate);
      } else {
        pendingCandidates.push(data.candidate);
      }
    }
  }

  // --- the room socket -------------------------------------------------------------------------

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
    }
  }

  function sendSignal(sessionId, data) {
    send({ type: "signal", data: { session: sessionId, ...data } });
  }

  async function requestToken() {
    const response = await fetch(root.dataset.tokenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": root.dataset.csrfToken },
    });
    if (response.ok) {
      return response.json();
    }
    // Not a participant, not signed in, or the room is not open: retrying will not help.
    const final = [401, 403, 404, 409].includes(response.status);
    return { refused: final ? (response.status === 409 ? "roomClosed" : "refused") : null };
  }

  function scheduleReconnect() {
    if (finished) {
      return;
    }
    ui.roomState.textContent = labels.reconnecting;
    const delay = Math.min(500 * 2 ** retries, 5000);
    retries += 1;
    window.setTimeout(connect, delay);
  }

  async function connect() {
    if (finished) {
      return;
    }
    ui.roomState.textContent = labels.connecting;
    let grant;
    try {
      grant = await requestToken();
    } catch (error) {
      report(error);
      scheduleReconnect();
      return;
    }
    if (!grant.token) {
      if (grant.refused) {
        finish(grant.refused);
      } else {
        scheduleReconnect();
      }
      return;
    }
    iceServers = grant.ice_servers;
    const ws = new WebSocket(`${grant.ws_url}?token=${encodeURIComponent(grant.token)}`);
    socket = ws;
    ws.addEventListener("open", () => {
      retries = 0;
      ui.roomState.textContent = labels.online;
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      inbox = inbox.then(() => handle(message)).catch(report);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) {
        return;
      }
      socket = null;
      // A new socket means a new round of introductions: whoever answers is a new peer.
      peer = null;
      const final = FINAL_CLOSES.get(event.code);
      if (final) {
        finish(final);
      } else {
        scheduleReconnect();
      }
    });
  }

  async function handle(message) {
    switch (message.type) {
      case "welcome":
        ui.chatLog.replaceChildren();
        message.chat.forEach(appendChat);
        ui.peerState.textContent = labels.waiting;
        break;
      case "peer_joined":
      case "peer_present":
        ui.peerState.textContent = `${labels.peerHere}: ${message.name}`;
        if (message.connection !== peer) {
          peer = message.connection;
          if (offerer) {
            await offer();
          }
        }
        break;
      case "peer_left":
        if (message.connection === peer) {
          peer = null;
          closePeerConnection();
          ui.peerState.textContent = labels.peerLeft;
        }
        break;
      case "signal":
        await onSignal(message.from, message.data);
        break;
      case "chat":
        appendChat(message.message);
        break;
      case "peer_media":
        showPeerMedia(message);
        break;
      case "error":
        notify(message.message);
        break;
      default:
        break; // `replaced` and `room_closed` arrive with their close code
    }
  }

  function showPeerMedia(message) {
    if (message.kind === "audio") {
      ui.peerState.textContent = message.enabled
        ? `${labels.peerHere}: ${message.name}`
        : labels.peerMuted;
    } else if (!message.enabled) {
      ui.peerState.textContent = labels.peerCameraOff;
    } else {
      ui.peerState.textContent = `${labels.peerHere}: ${message.name}`;
    }
  }

  // --- chat ------------------------------------------------------------------------------------

  function appendChat(message) {
    if (ui.chatLog.querySelector(`li[data-id="${message.id}"]`)) {
      return;
    }
    const item = document.createElement("li");
    item.dataset.id = message.id;
    item.dataset.side = message.side;
    const sender = document.createElement("span");
    sender.className = "chat-sender";
    sender.textContent = message.name;
    const time = document.createElement("time");
    time.dateTime = message.sent_at;
    time.textContent = new Date(message.sent_at).toLocaleTimeString();
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = message.text;
    item.append(sender, time, text);
    ui.chatLog.append(item);
    ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
  }

  ui.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.chatInput.value.trim();
    if (text && socket && socket.readyState === WebSocket.OPEN) {
      send({ type: "chat", text });
      ui.chatInput.value = "";
    }
  });

  ui.toggleAudio.addEventListener("click", () => toggle("audio"));
  ui.toggleVideo.addEventListener("click", () => toggle("video"));
  ui.enableSound.addEventListener("click", () => {
    ui.remoteAudio.play().then(() => {
      ui.enableSound.hidden = true;
    }, report);
  });
  window.addEventListener("pagehide", () => {
    finished = true;
    if (socket) {
      socket.close(1000);
    }
    closePeerConnection();
  });

  startLocalMedia().then(connect, report);
})();
