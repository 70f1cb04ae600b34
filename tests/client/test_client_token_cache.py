"""The shared token cache across real processes (no HTTP: the login is a local function)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import stat
import time
from pathlib import Path

import jwt

from alocity_etl.client.accounting import ClientStats
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.token_cache import TokenCache, token_lifetime

KEY = "alk_TOKEN-CACHE-TEST-KEY-42"


def settings(cache: Path) -> ClientSettings:
    return ClientSettings(access_key=KEY, base_url="http://127.0.0.1:9", cache_dir=cache)


def make_jwt(lifetime: int = 3600) -> str:
    now = int(time.time())
    claims = {"iat": now, "exp": now + lifetime, "jti": os.urandom(6).hex()}
    return jwt.encode(claims, "test-secret-" * 4, algorithm="HS256")


class CountingLogin:
    """Logs every login to a file so several processes can be counted; slow, to widen races."""

    def __init__(self, log: Path, delay: float = 0.2) -> None:
        self.log, self.delay = log, delay

    def __call__(self) -> str:
        time.sleep(self.delay)
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return make_jwt()


def _worker(cache: str, log: str, out: mp.Queue) -> None:
    cache_ = TokenCache(settings(Path(cache)), CountingLogin(Path(log)), ClientStats())
    out.put(cache_.current())


def test_one_login_for_many_processes(tmp_path: Path) -> None:
    log = tmp_path / "logins"
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_worker, args=(str(tmp_path), str(log), out)) for _ in range(4)]
    for p in procs:
        p.start()
    tokens = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(timeout=30)
    assert len(log.read_text().splitlines()) == 1
    assert len(tokens) == 1


def test_file_holds_token_not_key_and_is_private(tmp_path: Path) -> None:
    cache = TokenCache(settings(tmp_path), CountingLogin(tmp_path / "l", 0), ClientStats())
    token = cache.current()
    text = cache.store.token_path.read_text()
    assert KEY not in text and json.loads(text)["token"] == token
    assert stat.S_IMODE(cache.store.token_path.stat().st_mode) == 0o600
    assert KEY not in cache.store.token_path.name


def test_renew_reuses_a_token_refreshed_by_another_process(tmp_path: Path) -> None:
    stats_a, stats_b = ClientStats(), ClientStats()
    a = TokenCache(settings(tmp_path), CountingLogin(tmp_path / "l", 0), stats_a)
    b = TokenCache(settings(tmp_path), CountingLogin(tmp_path / "l", 0), stats_b)
    t1 = a.current()
    assert b.current() == t1
    t2, minted = b.renew(t1)  # B saw a 401 first: logs in
    assert minted and t2 != t1
    t3, minted = a.renew(t1)  # A's 401 with the old token: reuse B's, do not kill it
    assert not minted and t3 == t2
    t4, minted = a.renew(t2)  # the shared token itself was rejected: log in
    assert minted and t4 != t2
    assert stats_a.token_refreshes == 2 and stats_b.token_refreshes == 1


def test_refresh_before_exp_with_short_lived_tokens(tmp_path: Path) -> None:
    class ShortLogin(CountingLogin):
        def __call__(self) -> str:
            super().__call__()
            return make_jwt(lifetime=2)

    cache = TokenCache(settings(tmp_path), ShortLogin(tmp_path / "l", 0), ClientStats())
    t1 = cache.current()
    assert cache.current() == t1  # still fresh
    time.sleep(1.7)  # lifetime 2 s, skew capped at a fifth: refresh after 1.6 s
    assert cache.current() != t1


def test_lifetime_uses_iat_not_local_clock() -> None:
    # A server clock far behind ours must not make every token look expired.
    token = jwt.encode({"iat": 1_000, "exp": 4_600}, "test-secret-" * 4, algorithm="HS256")
    assert token_lifetime(token, now=time.time()) == 3600
    assert token_lifetime("not-a-jwt", now=0) is None
