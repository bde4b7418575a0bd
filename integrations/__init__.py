"""The outside world behind interfaces: WeChat's API, dispatch systems (Open311 and the
embedded desk), the database, the shared state store, and the stores built on them."""
