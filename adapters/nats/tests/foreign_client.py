"""A client not written in this project (nats-py) calls an rsvp responder with JSON.

Usage: python foreign_client.py NATS_URL SUBJECT
Prints one line per call: the reply payload, or the rsvp status and its error text.
"""

import asyncio
import json
import sys

import nats
from nats.errors import NoRespondersError


async def main(url, subject):
    nc = await nats.connect(url)

    def show(msg):
        headers = msg.headers or {}
        if "Rsvp-Outcome" in headers:
            print("status", headers["Rsvp-Outcome"], headers.get("Nats-Service-Error-Code"),
                  headers.get("Nats-Service-Error"))
        else:
            print("reply", json.loads(msg.data))

    # rsvp's budget header: 2 s, in microseconds.
    budget = {"Rsvp-Budget-Us": "2000000"}
    show(await nc.request(subject, json.dumps({"Double": 21}).encode(), timeout=5, headers=budget))
    show(await nc.request(subject, b"{not json", timeout=5, headers=budget))
    show(await nc.request(subject, json.dumps({"Double": 1}).encode(), timeout=5))
    try:
        await nc.request(subject + ".nobody", b"{}", timeout=5, headers=budget)
    except NoRespondersError:
        print("no responders")
    await nc.close()


asyncio.run(main(sys.argv[1], sys.argv[2]))
