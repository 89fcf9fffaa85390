"""The one services layer: the web UI, the APIs and the assistant all act through these
functions, so validation and permission checks live here, once. Write functions commit
their own transaction; on any error nothing they started is kept."""
