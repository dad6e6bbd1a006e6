"""Everything that speaks HTTP to a source: the client factory, the source clients, their config models."""
