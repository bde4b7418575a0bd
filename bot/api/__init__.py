"""HTTP endpoints beyond the WeChat callback, each a router factory that ``bot/app.py`` mounts."""
