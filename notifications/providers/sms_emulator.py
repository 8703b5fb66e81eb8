"""A local emulator of the SMS and WeChat template-message APIs, for development, tests and demos.

SMS speaks the shape of Aliyun's SendSms (Tencent's is alike): a JSON POST with PhoneNumbers,
SignName, TemplateCode, TemplateParam and OutId; the answer carries Code ("OK",
"isv.BUSINESS_LIMIT_CONTROL", "isv.MOBILE_NUMBER_ILLEGAL", ...), Message, BizId and RequestId.
WeChat speaks `cgi-bin/message/template/send`: touser, template_id, data and client_msg_id; the
answer carries errcode/errmsg/msgid. Both deduplicate on the client's request id (OutId,
client_msg_id), as the real APIs let a client do: a repeated request is answered with the first
one's message id and not delivered again.

Every accepted message is recorded, so tests can count deliveries exactly. Failures on demand:
the next N requests fail transiently (HTTP 503, or a throttle code), listed numbers/openids fail
permanently, and a per-request delay (applied after the message is recorded, before the answer)
opens the window between "the provider accepted" and "the sender recorded it".

Run on its own: `python -m notifications.providers.sms_emulator --port 8025`. Control endpoints:
GET /_emulator/sms, GET /_emulator/wechat, POST /_emulator/config, POST /_emulator/reset.
No Django here: the module runs as a bare process.
"""

import argparse
import json
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SMS_PATH = "/sms/SendSms"
WECHAT_PATH = "/wechat/cgi-bin/message/template/send"

Answer = tuple[int, dict[str, Any]]


class MessagingEmulator:
    """The emulator's state; thread-safe. Used over HTTP or in-process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.sms: list[dict[str, Any]] = []
            self.wechat: list[dict[str, Any]] = []
            self._sms_by_out_id: dict[str, str] = {}
            self._wechat_by_client_id: dict[str, int] = {}
            self.requests = 0
            self.duplicates = 0
            self.transient_failures = 0
            self.transient_mode = "http_503"  # or "throttle"
            self.invalid_recipients: set[str] = set()
            self.delay_seconds = 0.0

    def configure(self, options: dict[str, Any]) -> None:
        with self._lock:
            if "transient_failures" in options:
                self.transient_failures = int(options["transient_failures"])
            if "transient_mode" in options:
                self.transient_mode = str(options["transient_mode"])
            if "invalid_recipients" in options:
                self.invalid_recipients = set(options["invalid_recipients"])
            if "delay_seconds" in options:
                self.delay_seconds = float(options["delay_seconds"])

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "sms": list(self.sms),
                "wechat": list(self.wechat),
                "requests": self.requests,
                "duplicates": self.duplicates,
            }

    def _take_transient_failure(self) -> str | None:
        if self.transient_failures <= 0:
            return None
        self.transient_failures -= 1
        return self.transient_mode

    def send_sms(self, payload: dict[str, Any]) -> Answer:
        request_id = str(uuid.uuid4())
        with self._lock:
            self.requests += 1
            failure = self._take_transient_failure()
            if failure == "http_503":
                return HTTPStatus.SERVICE_UNAVAILABLE, {"Message": "Service Unavailable"}
            if failure == "throttle":
                return HTTPStatus.OK, {
                    "Code": "isv.BUSINESS_LIMIT_CONTROL",
                    "Message": "触发流控 throttled",
                    "RequestId": request_id,
                }
            missing = [
                name
                for name in ("PhoneNumbers", "SignName", "TemplateCode")
                if not payload.get(name)
            ]
            if missing:
                return HTTPStatus.OK, {
                    "Code": "isv.INVALID_PARAMETERS",
                    "Message": f"missing {', '.join(missing)}",
                    "RequestId": request_id,
                }
            phone = str(payload["PhoneNumbers"])
            if phone in self.invalid_recipients:
                return HTTPStatus.OK, {
                    "Code": "isv.MOBILE_NUMBER_ILLEGAL",
                    "Message": "非法手机号 invalid mobile number",
                    "RequestId": request_id,
                }
            out_id = str(payload.get("OutId") or "")
            if out_id and out_id in self._sms_by_out_id:
                self.duplicates += 1
                biz_id = self._sms_by_out_id[out_id]
            else:
                biz_id = f"{int(time.time())}^{uuid.uuid4().hex[:16]}"
                if out_id:
                    self._sms_by_out_id[out_id] = biz_id
                self.sms.append(
                    {
                        "BizId": biz_id,
                        "PhoneNumbers": phone,
                        "SignName": payload["SignName"],
                        "TemplateCode": payload["TemplateCode"],
                        "TemplateParam": payload.get("TemplateParam", "{}"),
                        "OutId": out_id,
                        "received_at": time.time(),
                    }
                )
            delay = self.delay_seconds
        if delay:
            time.sleep(delay)
        return HTTPStatus.OK, {
            "Code": "OK",
            "Message": "OK",
            "BizId": biz_id,
            "RequestId": request_id,
        }

    def send_wechat(self, payload: dict[str, Any]) -> Answer:
        with self._lock:
            self.requests += 1
            failure = self._take_transient_failure()
            if failure == "http_503":
                return HTTPStatus.SERVICE_UNAVAILABLE, {"errcode": -1, "errmsg": "system busy"}
            if failure == "throttle":
                return HTTPStatus.OK, {"errcode": 45009, "errmsg": "reach max api daily quota"}
            touser = str(payload.get("touser") or "")
            if not touser or touser in self.invalid_recipients:
                return HTTPStatus.OK, {"errcode": 43004, "errmsg": "require subscribe"}
            client_id = str(payload.get("client_msg_id") or "")
            if client_id and client_id in self._wechat_by_client_id:
                self.duplicates += 1
                msgid = self._wechat_by_client_id[client_id]
            else:
                msgid = len(self.wechat) + 1_000_000
                if client_id:
                    self._wechat_by_client_id[client_id] = msgid
                self.wechat.append(
                    {
                        "msgid": msgid,
                        "touser": touser,
                        "template_id": payload.get("template_id", ""),
                        "data": payload.get("data", {}),
                        "client_msg_id": client_id,
                        "received_at": time.time(),
                    }
                )
            delay = self.delay_seconds
        if delay:
            time.sleep(delay)
        return HTTPStatus.OK, {"errcode": 0, "errmsg": "ok", "msgid": msgid}


# The in-process instance (embedded default and tests without the HTTP emulator).
default_emulator = MessagingEmulator()


def make_handler(emulator: MessagingEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every answer back by tens of milliseconds.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            value = json.loads(raw or b"{}")
            return value if isinstance(value, dict) else {}

        def do_GET(self) -> None:
            snapshot = emulator.snapshot()
            if self.path == "/_emulator/sms":
                self._reply(200, {**snapshot, "messages": snapshot["sms"]})
            elif self.path == "/_emulator/wechat":
                self._reply(200, {**snapshot, "messages": snapshot["wechat"]})
            elif self.path == "/_emulator/health":
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"Code": "NotFound"})

        def do_POST(self) -> None:
            try:
                payload = self._json()
            except ValueError:
                self._reply(400, {"Code": "InvalidJSON"})
                return
            if self.path == SMS_PATH:
                self._reply(*emulator.send_sms(payload))
            elif self.path == WECHAT_PATH:
                self._reply(*emulator.send_wechat(payload))
            elif self.path == "/_emulator/config":
                emulator.configure(payload)
                self._reply(200, {"status": "ok"})
            elif self.path == "/_emulator/reset":
                emulator.reset()
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"Code": "NotFound"})

    return Handler


def serve(host: str, port: int, emulator: MessagingEmulator | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(emulator or MessagingEmulator()))
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="SMS / WeChat template-message emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    options = parser.parse_args()
    server = serve(options.host, options.port)
    print(f"messaging emulator on http://{options.host}:{options.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
