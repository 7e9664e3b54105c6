"""The HAR fixtures (fixtures/har/) and synthetic HAR documents: one entry with changes, malformed files
with the one-line error each must give."""

from __future__ import annotations

import json

from helpers.offline import FIXTURES

HAR = FIXTURES / "har"


def _entry(**changes):
    entry = {
        "startedDateTime": "2026-01-01T00:00:00Z",
        "request": {"method": "GET", "url": "http://a.test/", "headers": []},
        "response": {"status": 200, "headers": [], "content": {"mimeType": "text/plain", "text": "x"}},
        "timings": {"send": 0, "wait": 1, "receive": 1},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = entry
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return entry


def _har(*entries):
    return json.dumps({"log": {"version": "1.2", "entries": list(entries)}})


MALFORMED = [
    ("truncated.har", _har(_entry())[:-30], r"^HAR is not valid JSON: "),
    ("garbage.har", _har(_entry())[:-3] + ', {"b": }]}}', r"^HAR is not valid JSON after entry 0: parse error"),
    ("no-log.har", '{"foo": 1}', r"^HAR has no log object$"),
    ("no-entries.har", '{"log": {"version": "1.2"}}', r"^HAR has no log.entries$"),
    ("entries-object.har", '{"log": {"entries": {"a": 1}}}', r"^HAR log.entries: expected a list$"),
    ("entry-number.har", '{"log": {"entries": [3]}}', r"^HAR log.entries\[0\]: expected an object, got a number$"),
    ("no-url.har", _har(_entry(request__url=KeyError)), r"^HAR log.entries\[0\].request.url: missing$"),
    ("no-request.har", _har(_entry(request=KeyError)), r"^HAR log.entries\[0\].request: missing$"),
    ("status-string.har", _har(_entry(), _entry(response__status="200")),
     r"^HAR log.entries\[1\].response.status: expected a number, got a string$"),
    ("bad-date.har", _har(_entry(startedDateTime="yesterday")),
     r"^HAR log.entries\[0\].startedDateTime: not an ISO 8601 date-time: 'yesterday'$"),
    ("timings-list.har", _har(_entry(timings=[1, 2])), r"^HAR log.entries\[0\].timings: expected an object, got a list$"),
    ("wait-string.har", _har(_entry(timings__wait="5")), r"^HAR log.entries\[0\].timings.wait: expected a number"),
    ("headers-strings.har", _har(_entry(request__headers=["Host: a"])),
     r"^HAR log.entries\[0\].request.headers\[0\]: expected an object, got a string$"),
    ("bad-base64.har", _har(_entry(response__content={"mimeType": "x", "text": "%%%", "encoding": "base64"})),
     r"^HAR log.entries\[0\].response.content.text: encoding is base64 but the text is not$"),
    ("ws-messages-object.har", _har(_entry(_webSocketMessages={"a": 1})),
     r"^HAR log.entries\[0\]._webSocketMessages: expected a list, got an object$"),
]
