"""Arduino IoT Cloud: its payload models, the client, and how a dashboard becomes items."""
