"""Serving: the one facade the app calls for the ranked feed and people suggestions. The app
reaches torch only through here."""
