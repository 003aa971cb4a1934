#!/usr/bin/env python3
"""A chat webhook receiver (docs/WEBHOOKS.md): checks X-Chat-Signature, refuses old
timestamps and repeated deliveries, then hands the notification on (here: prints it).
Run: WEBHOOK_SECRET=<secret from chatctl> python3 webhook_receiver.py 8080"""
import hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_AGE_S = 300  # refuse requests signed longer ago than this (replays)


def verify(secret, header, body, now=None, max_age=MAX_AGE_S):
    """True when header ("t=<unix>,v1=<hex>") signs body with secret and is fresh."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    fresh = abs((now or time.time()) - t) <= max_age
    return fresh and hmac.compare_digest(mac, fields.get("v1", ""))


class Receiver(BaseHTTPRequestHandler):
    seen = set()  # X-Chat-Delivery ids handled (keep them in a database in production)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verify(os.environ["WEBHOOK_SECRET"], self.headers.get("X-Chat-Signature", ""), body):
            self.send_response(401)
        else:
            delivery = self.headers.get("X-Chat-Delivery")
            if delivery not in self.seen:  # a retry of a delivery already handled
                self.seen.add(delivery)
                event = json.loads(body)  # e.g. send to FCM/APNs or by e-mail here
                print(event["user"]["username"], event["message"]["text_preview"], flush=True)
            self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
