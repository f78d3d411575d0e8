"""Joining `part` frames as the page does (static/js/chat/socket.js, docs/protocol.md).

A frame too large for one websocket message arrives as parts; frames sent
after it wait behind it, so a client sees every frame in the server's order.
"""

import json


class PartJoiner:
    def __init__(self) -> None:
        self.held: list[dict] = []  # {"frame": ...} ready or {"id", "of", "texts"} pending

    def feed(self, frame: dict) -> list[dict]:
        """The frames ready to read, in order, now that `frame` arrived."""
        if frame.get("type") != "part" and not self.held:
            return [frame]
        if frame.get("type") != "part":
            self.held.append({"frame": frame})
        else:
            self._add_part(frame)
        ready = []
        while self.held and "frame" in self.held[0]:
            ready.append(self.held.pop(0)["frame"])
        return ready

    def _add_part(self, part: dict) -> None:
        entry = next((e for e in self.held if e.get("id") == part["id"]), None)
        if entry is None:
            entry = {"id": part["id"], "of": part["of"], "texts": {}}
            self.held.append(entry)
        entry["texts"][part["n"]] = part["text"]
        if len(entry["texts"]) == entry["of"]:
            entry["frame"] = json.loads("".join(entry["texts"][n] for n in range(entry["of"])))
