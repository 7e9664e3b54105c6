"""The application layer: Socket.IO, GraphQL over WebSocket, JSON-RPC ... decoded from the payloads of
messages, SSE events and polling bodies (sans-IO, bounded, never raising on bad input).

`registry.choose` picks a decoder per connection from the handshake's subprotocol, the URL and the first
payloads; `session.AppSession` runs it over the Message records `inspector.analysis` emits, fills their
``app`` field and adds `records.Operation` records.
"""
