"""What a run does: the scenarios' defaults and the settings one run is given (picklable, handed to
every generator process)."""

from __future__ import annotations

from dataclasses import dataclass

# Operations, in report order. `login` is sign-up + socket open, measured from the start of the
# sign-up to the socket's upgrade, for the players who arrive during the ramp; the players there
# from the start log in `--login-concurrency` at a time before the ramp, a burst whose latency is
# set by how many are in flight: theirs are the `_start` rows. `start_lag` is the generator's own
# health (how late a player started against the schedule) and has no objective.
LOGIN_OPS = ("login", "signup", "socket_open")
START = "_start"
# The report's row of every log-in of the run, the start burst's and the ramp's together.
WHOLE_LOGIN = "login_all"
OPERATIONS = (
    *LOGIN_OPS,
    *(op + START for op in LOGIN_OPS),
    "ping",
    "chat_join",
    "chat_send",
    "chat_delivery",
    "leaderboard_write",
    "matchmaker_add",
    "matchmaker_matched",
    "wallet_get",
    "wallet_fund",
    "store_purchase",
)
GENERATOR_OPS = ("start_lag",)

# The purchases scenario's bundle and its funding RPC: examples/loadtest/loadtest.py sets them up.
STORE_BUNDLE = "loadtest_token"
FUND_RPC = "loadtest_fund"
MAX_FUNDED_PURCHASES = 1_000_000  # what one call of the RPC may pay for

# Per scenario: the defaults of the flags it does not get (None: the flag's general default).
SCENARIOS: dict[str, dict[str, float | int]] = {
    # The launch surge: 500 players at once, then 11,500 more over 60 s, each doing a bit of
    # everything while connected.
    "surge": {
        "players": 12_000, "start_players": 500, "ramp_sec": 60, "hold_sec": 10,
        "ping_every": 5, "chat_every": 30, "leaderboard_every": 60, "matchmaker_every": 60,
        "wallet_every": 0, "purchase_every": 0,
    },
    # Everyone in rooms of 20, sending a message every second (under the server's default
    # chat_rate_limit of 10/s per user).
    "chat-storm": {
        "players": 500, "start_players": 500, "ramp_sec": 0, "hold_sec": 30,
        "ping_every": 0, "chat_every": 1, "chat_room_size": 20, "leaderboard_every": 0,
        "matchmaker_every": 0, "wallet_every": 0, "purchase_every": 0,
    },
    # Players arriving fast, each in the matchmaker again one second after each match.
    "matchmaking-rush": {
        "players": 2_000, "start_players": 0, "ramp_sec": 10, "hold_sec": 20,
        "ping_every": 0, "chat_every": 0, "leaderboard_every": 0, "matchmaker_every": 1,
        "wallet_every": 0, "purchase_every": 0,
    },
    # Everyone writing a score every second to one leaderboard.
    "leaderboard-burst": {
        "players": 1_000, "start_players": 1_000, "ramp_sec": 0, "hold_sec": 30,
        "ping_every": 0, "chat_every": 0, "leaderboard_every": 1, "matchmaker_every": 0,
        "wallet_every": 0, "purchase_every": 0,
    },
    # The economy: each player, funded once with the load test's currency (RPC loadtest_fund),
    # buys the bundle `loadtest_token` every second and reads its wallet every second.
    "purchases": {
        "players": 1_000, "start_players": 1_000, "ramp_sec": 0, "hold_sec": 30,
        "ping_every": 0, "chat_every": 0, "leaderboard_every": 0, "matchmaker_every": 0,
        "wallet_every": 1, "purchase_every": 1,
    },
}  # fmt: skip

GENERAL_DEFAULTS: dict[str, float | int] = {"chat_room_size": 50, "matchmaker_size": 2}


@dataclass
class Plan:
    scenario: str
    host: str
    port: int
    server_key: str
    run_id: str  # in every device id, email, room and matchmaker query: runs do not mix
    start_wall: float  # time.time() of second 0
    players: int
    start_players: int
    ramp_sec: float
    hold_sec: float
    duration_sec: float
    max_requests: int  # 0: no cap
    processes: int
    auth: str  # device | email
    ping_every: float
    chat_every: float
    chat_room_size: int
    chat_persist: bool
    leaderboard: str
    leaderboard_every: float
    matchmaker_every: float
    matchmaker_size: int
    wallet_every: float
    purchase_every: float
    http_key: str  # for the purchases' funding RPC (the title's http key)
    timeout_sec: float
    http_connections: int
    login_concurrency: int

    @property
    def uses_chat(self) -> bool:
        return self.chat_every > 0

    @property
    def end_offset(self) -> float:
        """Seconds from the ramp's start to the end of the run."""
        return self.ramp_sec + self.hold_sec

    @property
    def purchases_per_player(self) -> int:
        """The most purchases one player can make in this run (it never lasts beyond the duration
        cap, and a player buys at most once per `purchase_every`): what its funding pays for."""
        if self.purchase_every <= 0:
            return 0
        return min(int(self.duration_sec / self.purchase_every) + 2, MAX_FUNDED_PURCHASES)
