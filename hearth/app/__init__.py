"""The social app: storage, services, the Mastodon-compatible API, Hearth's own API and the web UI."""
