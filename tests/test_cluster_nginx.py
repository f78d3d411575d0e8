"""The cluster of docs/deployment.md: nginx in front of two Daphne workers on PostgreSQL + Redis.

nginx runs the documented docs/deploy/nginx.conf (tests/cluster/nginx.py only
changes addresses); every tab goes through it, and the harness's
X-Chatsite-Upstream header tells which worker serves each tab. Restarts of
the database and of Redis happen on private servers started for the test,
never on the machine's shared ones.

Runs in the PostgreSQL + Redis leg; under CI=true a missing nginx fails.
"""

import asyncio
import os
import re
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from django.conf import settings

from tests.cluster import Cluster, Postgres, PrivatePostgres, PrivateRedis, Redis
from tests.cluster import nginx as cluster_nginx
from tests.cluster.processes import free_port
from tests.cluster.servers import server_url_of
from tests.cluster.tabs import Browser, Tab
from tests.fakeupstream import generated_tokens
from tests.livedaphne import database_url


def _cluster_leg() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"] and bool(settings.REDIS_URL)


pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not _cluster_leg(), reason="runs in the PostgreSQL + Redis leg"),
]

# A survivor's sweeper acts within seconds; the flush interval stays the
# product's default, which bounds what a hard kill loses.
WORKER_ENV = {
    "CHATSITE_STALE_AFTER": "2",
    "CHATSITE_HEARTBEAT_INTERVAL": "0.5",
    "CHATSITE_AUTO_TITLES": "words",
}
FLUSH_INTERVAL = 1.0
TOKENS_PER_SECOND = 100  # the fake's delay=10 below
PASSWORD = "correct horse battery staple"


def require(problem: str | None) -> None:
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {problem}")
    if problem:
        pytest.skip(problem)


def nginx_missing() -> str | None:
    if cluster_nginx.binary() is None:
        return "nginx is not installed (make install-test, or apt-get install nginx)"
    return None


def reply(tokens: int) -> str:
    return "".join(generated_tokens(tokens))


@pytest.fixture(scope="module")
def cluster():
    require(nginx_missing())
    shared = Postgres(server_url_of(database_url()))
    with Cluster(postgres=shared, redis=Redis(settings.REDIS_URL), worker_env=WORKER_ENV) as site:
        yield site


@pytest.fixture(scope="module")
def cookie(cluster) -> str:
    return cluster.sign_in("alice")["alice"]


@pytest.fixture
async def browser(cluster, cookie):
    opened = Browser(cookie, cluster.url)
    yield opened
    await opened.close()


async def conversation_of(tab: Tab) -> str:
    """A new conversation, made by a first short turn."""
    answer, done = await tab.turn("[[fake:tokens=3]] Hello")
    assert done["status"] == "complete"
    return answer["conversation_id"]


def stored(cluster: Cluster, message_id: str) -> dict:
    [row] = cluster.rows(
        "SELECT role, content, status, error_code, stream_seq, parent_id, conversation_id"
        " FROM conversations_message WHERE id = %s",
        message_id,
    )
    return row


# --- The configuration itself ---------------------------------------------------------


def test_the_rendered_site_changes_only_addresses_of_the_documented_one(tmp_path):
    documented = cluster_nginx.DOCUMENTED.read_text().splitlines()
    rendered = cluster_nginx.render_site(
        cluster_nginx.DOCUMENTED.read_text(),
        workers=[9001, 9002, 9003],
        port=9000,
        redirect_port=9004,
        static_root=tmp_path,
    ).splitlines()
    changed = {line.strip() for line in set(documented) ^ set(rendered)}
    allowed = re.compile(r"^(server 127\.0\.0\.1:\d+ .*|listen .*|alias .*|ssl_certificate.*)$")
    assert [line for line in changed if not allowed.match(line)] == []
    assert "    server 127.0.0.1:9003 max_fails=3 fail_timeout=5s;" in rendered


def test_the_documented_tls_server_passes_nginx_t(tmp_path):
    require(nginx_missing())
    nginx = cluster_nginx.Nginx(tmp_path / "nginx", workers=[free_port()], static_root=tmp_path)
    nginx.folder.mkdir()
    main = nginx.write(cluster_nginx.self_signed_certificate(nginx.folder))
    nginx.test(main)  # raises with nginx's report on any error


async def test_the_socket_location_forwards_what_pages_get(tmp_path):
    """Host, X-Forwarded-*, X-Request-ID reach the worker on /ws/ too (a location that
    sets any proxy header inherits none), plus the upgrade."""
    require(nginx_missing())
    seen: dict[str, dict] = {}

    async def record(request: web.Request) -> web.StreamResponse:
        seen[request.path] = dict(request.headers)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(text="page")
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.close()
        return socket

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    nginx = cluster_nginx.Nginx(tmp_path / "nginx", workers=[port], static_root=tmp_path)
    await asyncio.to_thread(nginx.start)
    try:
        browser = Browser("", nginx.url)
        await (await browser.open(nginx.ws_url)).close()
        await browser.session.get(f"{nginx.url}/page")
        await browser.close()
    finally:
        await asyncio.to_thread(nginx.stop)
        await runner.cleanup()
    page, socket = seen["/page"], seen["/ws/chat/"]
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto"):
        assert socket[header] == page[header], header
    assert socket["Host"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{32}", socket["X-Request-ID"])
    assert socket["Upgrade"] == "websocket"


# --- Pages through nginx ----------------------------------------------------------------


def test_signing_in_pages_static_files_and_health_through_nginx(cluster):
    cluster.sign_in("carol", password=PASSWORD)
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = f"{cluster.url}/accounts/login/"
    with opener.open(login) as page:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
        request_id = page.headers["X-Request-ID"]
    form = {"username": "carol", "password": PASSWORD, "csrfmiddlewaretoken": token}
    request = urllib.request.Request(
        login, data=urllib.parse.urlencode(form).encode(), headers={"Origin": cluster.url}
    )
    with opener.open(request) as home:  # redirected to the chat page, signed in
        assert (home.status, home.url) == (200, f"{cluster.url}/")
        assert "carol" in home.read().decode()

    with urllib.request.urlopen(f"{cluster.url}/static/css/app.css") as static:
        assert static.headers["Cache-Control"] == "max-age=3600"  # nginx's `expires 1h`
        assert static.headers[cluster_nginx.UPSTREAM_HEADER] is None  # from disk
    with urllib.request.urlopen(f"{cluster.url}/healthz") as health:
        assert health.status == 200
    assert [cluster.healthz(i)[0] for i in (0, 1)] == [200, 200]
    # nginx's request id is the one the worker used and answered with.
    access_log = (cluster.nginx.folder / "access.log").read_text()
    assert f" {request_id} " in access_log


# --- Answers across workers -------------------------------------------------------------


async def test_a_tab_on_one_worker_follows_an_answer_written_through_the_other(cluster, browser):
    writer, follower = await browser.open_on(cluster, 0), await browser.open_on(cluster, 1)
    conversation = await conversation_of(writer)
    await follower.subscribe(conversation)

    await writer.send_message("[[fake:tokens=200,delay=5]] Talk", conversation)
    answer = await writer.started_answer()
    done_a = await writer.next_of("done", message_id=answer["id"])
    done_b = await follower.next_of("done", message_id=answer["id"])

    a, b = writer.answer(answer["id"]), follower.answer(answer["id"])
    assert (a.problems, b.problems) == ([], [])
    assert a.text == b.text == reply(200)
    assert done_a == done_b
    assert (done_b["status"], done_b["seq"]) == ("complete", 200)
    assert stored(cluster, answer["id"])["content"] == reply(200)


@pytest.mark.parametrize(
    ("stopper", "after_tokens"),
    [("writer", 20), ("follower", 20), ("follower", 0)],
    ids=["from-the-writing-worker", "from-the-other-worker", "other-worker-before-a-token"],
)
async def test_stop_works_from_either_worker(cluster, browser, stopper, after_tokens):
    writer, follower = await browser.open_on(cluster, 0), await browser.open_on(cluster, 1)
    conversation = await conversation_of(writer)
    await follower.subscribe(conversation)
    first_byte = 0 if after_tokens else 3000

    prompt = f"[[fake:tokens=400,delay=10,first_byte_delay={first_byte}]] Talk"
    await writer.send_message(prompt, conversation)
    answer = await writer.started_answer()
    if after_tokens:
        await follower.until_seq(answer["id"], after_tokens)
    tabs = {"writer": writer, "follower": follower}
    await tabs[stopper].send(type="stop", message_id=answer["id"])
    done_a = await writer.next_of("done", message_id=answer["id"])
    done_b = await follower.next_of("done", message_id=answer["id"])

    assert done_a["status"] == done_b["status"] == "stopped"
    row = stored(cluster, answer["id"])
    a, b = writer.answer(answer["id"]), follower.answer(answer["id"])
    assert (a.problems, b.problems) == ([], [])
    assert row["status"] == "stopped"
    assert row["content"] == a.text == b.text
    assert after_tokens <= row["stream_seq"] == done_a["seq"] < 400
    assert reply(400).startswith(row["content"])


async def test_a_worker_killed_mid_stream_loses_at_most_a_second_and_the_user_continues(
    cluster, browser
):
    writer, follower = await browser.open_on(cluster, 0), await browser.open_on(cluster, 1)
    conversation = await conversation_of(writer)
    await follower.subscribe(conversation)
    question = "[[fake:tokens=1000,delay=10]] Talk"
    await writer.send_message(question, conversation)
    answer = await writer.started_answer()
    await writer.until_seq(answer["id"], 150)

    try:
        await asyncio.to_thread(cluster.kill, 0)
        seen = writer.answer(answer["id"])
        done = await follower.next_of("done", message_id=answer["id"], timeout=15)

        assert (done["status"], done["error"]["code"]) == ("interrupted", "worker_lost")
        row = stored(cluster, answer["id"])
        assert row["status"] == "interrupted"
        assert seen.text.startswith(row["content"])
        lost = seen.seq - row["stream_seq"]
        assert 0 <= lost <= TOKENS_PER_SECOND * FLUSH_INTERVAL + 20
        assert stored(cluster, str(row["parent_id"]))["content"] == question
        assert f"Marked answer {answer['id']} interrupted" in cluster.workers[1].output()
        assert follower.answer(answer["id"]).problems == []

        # The user's page reconnects through nginx, which now has one worker to offer.
        again = await browser.open(cluster.ws_url)
        assert cluster.worker_at(again.upstream) == 1
        await again.subscribe(conversation)
        more, finished = await again.turn("[[fake:tokens=5]] Go on", conversation)
        assert (finished["status"], again.answer(more["id"]).text) == ("complete", reply(5))
        follow_up = stored(cluster, more["parent_id"])  # "Go on", after the interrupted answer
        assert (follow_up["content"], str(follow_up["parent_id"])) == (
            "[[fake:tokens=5]] Go on",
            answer["id"],
        )
    finally:
        await asyncio.to_thread(cluster.revive, 0)


# --- Restarts of the database and of Redis, on private servers --------------------------


@pytest.fixture(scope="module")
def private():
    """A cluster on a PostgreSQL and a Redis of its own, which the tests restart."""
    require(nginx_missing() or PrivatePostgres.available() or PrivateRedis.available())
    # Not pytest's folder: the postgres user must reach the data folder.
    folder = Path(tempfile.mkdtemp(prefix="chatsite-private-servers-"))
    folder.chmod(0o755)
    postgres, redis = PrivatePostgres(folder), PrivateRedis(folder)
    try:
        postgres.start()
        redis.start()
        with Cluster(postgres=postgres, redis=redis, worker_env=WORKER_ENV) as site:
            yield site
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def private_cookie(private) -> str:
    return private.sign_in("dave")["dave"]


@pytest.fixture
async def private_browser(private, private_cookie):
    opened = Browser(private_cookie, private.url)
    yield opened
    await opened.close()


async def tab_on(browser: Browser, cluster: Cluster, index: int, within: float = 30.0) -> Tab:
    """A new tab on that worker, retried while the worker refuses sockets (Redis down)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await browser.open_on(cluster, index)
        except (aiohttp.ClientError, AssertionError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def follow_to_the_end(browser, cluster, tab: Tab, index: int, message_id: str) -> tuple:
    """The answer's `done` as the page gets it, and the tab: if the socket dropped, the
    page opens another and subscribes with the seq it has, keeping the text it assembled."""
    while True:
        try:
            return tab, await tab.next_of("done", timeout=30, message_id=message_id)
        except ConnectionError:
            kept = tab.answer(message_id)
            tab = await tab_on(browser, cluster, index)
            tab.answers[message_id] = kept
            conversation = stored(cluster, message_id)["conversation_id"]
            fields = {"message_id": message_id, "after_seq": kept.seq}
            await tab.send(type="subscribe", conversation_id=str(conversation), **fields)


def worker_pids(cluster: Cluster) -> list[int | None]:
    return [w.process.pid if w.process.poll() is None else None for w in cluster.workers]


async def a_turn_followed_across_workers(browser, cluster, conversation: str) -> None:
    """Live on the other worker again. The turn lasts longer than the second the control
    listener waits between two tries while Redis is away."""
    writer, follower = await tab_on(browser, cluster, 0), await tab_on(browser, cluster, 1)
    await follower.subscribe(conversation)
    answer, done = await writer.turn("[[fake:tokens=300,delay=5]] And now?", conversation)
    followed = await follower.next_of("done", message_id=answer["id"])
    assert done["status"] == followed["status"] == "complete"
    a, b = writer.answer(answer["id"]), follower.answer(answer["id"])
    assert (a.problems, b.problems) == ([], [])
    assert a.text == b.text == reply(300)


@pytest.mark.parametrize("server", ["redis", "postgres"])
async def test_workers_heal_after_a_restart_mid_stream_and_between_turns(
    private, private_browser, server
):
    # The database stays away longer than CHATSITE_STALE_AFTER: no worker can
    # heartbeat meanwhile, and no sweeper may take the running answer for dead.
    down_for = {"redis": 1.0, "postgres": 3.0}[server]
    service = {"redis": private.redis, "postgres": private.postgres}[server]

    def restart() -> None:
        service.stop()
        down = [private.healthz(i) for i in (0, 1)]
        assert [(code, body["status"]) for code, body in down] == [(503, "fail")] * 2
        time.sleep(down_for)
        service.start()

    pids = worker_pids(private)
    writer = await tab_on(private_browser, private, 0)
    follower = await tab_on(private_browser, private, 1)
    conversation = await conversation_of(writer)
    await follower.subscribe(conversation)
    await writer.send_message("[[fake:tokens=600,delay=10]] Talk", conversation)
    answer = await writer.started_answer()
    await writer.until_seq(answer["id"], 50)

    await asyncio.to_thread(restart)  # mid-stream
    ends = [
        await follow_to_the_end(private_browser, private, tab, index, answer["id"])
        for index, tab in enumerate((writer, follower))
    ]
    assert [done["status"] for _tab, done in ends] == ["complete", "complete"]
    for tab, _done in ends:
        assert tab.answer(answer["id"]).text == reply(600)
        later = await tab.drain(within=1.0)
        assert [f for f in later if f["type"] == "done"] == []  # exactly one `done`
    row = stored(private, answer["id"])
    assert (row["status"], row["content"]) == ("complete", reply(600))
    await asyncio.to_thread(private.wait_healthy)

    await asyncio.to_thread(restart)  # between turns
    await asyncio.to_thread(private.wait_healthy)
    await a_turn_followed_across_workers(private_browser, private, conversation)
    assert worker_pids(private) == pids  # healed without restarting a worker


async def test_an_answer_ending_while_the_database_is_down_is_not_left_streaming(
    private, private_browser
):
    """Longer than the end's retries: the sweeper ends it `interrupted` with its stored text."""
    writer = await tab_on(private_browser, private, 0)
    conversation = await conversation_of(writer)
    await writer.send_message("[[fake:tokens=150,delay=10]] Talk", conversation)
    answer = await writer.started_answer()
    await writer.until_seq(answer["id"], 20)

    await asyncio.to_thread(private.postgres.restart, down_for=17.0)
    done = await writer.next_of("done", message_id=answer["id"], timeout=20)

    assert done["status"] == "interrupted"
    row = stored(private, answer["id"])
    assert row["status"] == "interrupted"
    assert writer.answer(answer["id"]).text.startswith(row["content"])
    await asyncio.to_thread(private.wait_healthy)
    await a_turn_followed_across_workers(private_browser, private, conversation)
