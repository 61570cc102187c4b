"""HTTP adapter: Nakama's REST API (`/v2/...`) and the operator endpoints, on Litestar."""
