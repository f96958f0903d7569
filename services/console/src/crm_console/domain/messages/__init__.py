"""The console's texts, one module per screen: `MESSAGES = {key: (English, Hebrew)}`."""
