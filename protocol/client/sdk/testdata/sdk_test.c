// sdk_test.c drives the Heartline SDK through its C API, as an app would. Built with gcc
// against the c-archive and run by TestCProgramEndToEnd (sdk_e2e_test.go), which starts
// Consul, a gateway, its agent and the site, logs two members in at the site (the HTTP login
// is done by the Go test: plain C has no HTTP client) and passes their credentials in the
// environment. At each "WAIT <step>" line the Go test checks the agent's query API (a
// watcher) and answers "GO" on stdin.
//
//   sdk_test misuse   bad use of the API only (no network)
//   sdk_test e2e      the whole journey (needs the HL_* environment below)
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heartline.h"

#define CHECK(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond)) {                                                     \
			char m_[512];                                                  \
			hl_last_error(m_, sizeof m_);                                  \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                                  \
			fprintf(stderr, " (hl_last_error: %s)\n", m_);                 \
			exit(1);                                                       \
		}                                                                  \
	} while (0)

static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// wait_for polls cond every 10 ms for up to timeout_ms.
static int wait_for(int (*cond)(void *), void *arg, long timeout_ms) {
	long deadline = now_ms() + timeout_ms;
	while (!cond(arg)) {
		if (now_ms() > deadline) return 0;
		sleep_ms(10);
	}
	return 1;
}

// step tells the Go test where we are and waits for its check of the watcher.
static void step(const char *name) {
	char line[64];
	printf("WAIT %s\n", name);
	fflush(stdout);
	CHECK(fgets(line, sizeof line, stdin) != NULL && strncmp(line, "GO", 2) == 0, "the Go test did not confirm step %s", name);
}

static const char *env(const char *name) {
	const char *v = getenv(name);
	CHECK(v != NULL && *v != 0, "environment variable %s is not set", name);
	return v;
}

// ---- bad use: every call returns a code, nothing crashes ----

static void misuse(void) {
	char buf[256];
	hl_status st;
	hl_event ev;
	uint64_t id = 1;

	CHECK(hl_version(buf, sizeof buf) == HL_ABI_VERSION && strncmp(buf, "heartline-sdk ", 14) == 0, "hl_version: %s", buf);
	CHECK(hl_version(NULL, 0) == HL_ABI_VERSION, "hl_version(NULL)");
	CHECK(hl_version(buf, 5) == HL_ABI_VERSION && strlen(buf) == 4, "hl_version cuts to fit: %s", buf);
	printf("VERSION %s\n", (hl_version(buf, sizeof buf), buf));

	for (int64_t h = -2; h <= 3; h++) { // never created
		CHECK(hl_start(h) == HL_ERR_INVALID_HANDLE, "hl_start(%lld)", (long long)h);
		CHECK(hl_stop(h) == HL_ERR_INVALID_HANDLE, "hl_stop");
		CHECK(hl_set_active(h, 1) == HL_ERR_INVALID_HANDLE, "hl_set_active");
		CHECK(hl_set_background_policy(h, HL_BG_KEEP, 0) == HL_ERR_INVALID_HANDLE, "hl_set_background_policy");
		CHECK(hl_logout(h) == HL_ERR_INVALID_HANDLE, "hl_logout");
		CHECK(hl_grant(h, "AAAA") == HL_ERR_INVALID_HANDLE, "hl_grant");
		CHECK(hl_subscribe(h, &id, 1) == HL_ERR_INVALID_HANDLE, "hl_subscribe");
		CHECK(hl_unsubscribe(h, &id, 1) == HL_ERR_INVALID_HANDLE, "hl_unsubscribe");
		CHECK(hl_set_event_callback(h, NULL, NULL) == HL_ERR_INVALID_HANDLE, "hl_set_event_callback");
		CHECK(hl_poll_event(h, &ev) == HL_ERR_INVALID_HANDLE, "hl_poll_event");
		CHECK(hl_get_status(h, &st) == HL_ERR_INVALID_HANDLE, "hl_get_status");
		CHECK(hl_destroy(h) == HL_ERR_INVALID_HANDLE, "hl_destroy");
	}
	CHECK(hl_last_error(buf, sizeof buf) > 0 && strstr(buf, "invalid handle") != NULL, "hl_last_error after a bad handle: %s", buf);

	CHECK(hl_create(NULL, NULL, NULL, HL_TRANSPORT_UDP) == HL_ERR_INVALID_ARGUMENT, "hl_create(NULL)");
	CHECK(hl_last_error(buf, sizeof buf) > 0 && strstr(buf, "token is NULL") != NULL, "message: %s", buf);
	CHECK(hl_create("not-a-token", "AAAAAAAAAAAAAAAAAAAAAA", "127.0.0.1:1", HL_TRANSPORT_UDP) == HL_ERR_INVALID_ARGUMENT, "garbage token");
	CHECK(hl_create("x", "y", "z", 7) == HL_ERR_INVALID_ARGUMENT, "bad transport");
}

// destroy_self is a callback that uses the API from the event thread, down to destroying
// its own handle; ctx is an atomic_int set to 1 when that worked.
static void destroy_self(void *ctx, int64_t h, const hl_event *e) {
	hl_status st;
	if (e->kind == HL_EVENT_STATE && hl_get_status(h, &st) == HL_OK) {
		atomic_store((atomic_int *)ctx, hl_destroy(h) == HL_OK ? 1 : -1);
	}
}

static int is_set(void *flag) { return atomic_load((atomic_int *)flag) != 0; }

// misuse_with(tok, key, gws): a real handle used badly.
static void misuse_with(const char *tok, const char *key, const char *gws) {
	char buf[256];
	hl_status st;
	uint64_t id = 1;
	CHECK(hl_create(tok, "short", gws, HL_TRANSPORT_UDP) == HL_ERR_INVALID_ARGUMENT, "short session key");
	CHECK(hl_create(tok, key, "[]", HL_TRANSPORT_UDP) == HL_ERR_INVALID_ARGUMENT, "no gateways");
	CHECK(hl_create(tok, key, "[{\"udp\":", HL_TRANSPORT_UDP) == HL_ERR_INVALID_ARGUMENT, "broken JSON");
	int64_t h = hl_create(tok, key, gws, HL_TRANSPORT_UDP);
	CHECK(h > 0, "hl_create: %lld", (long long)h);
	CHECK(hl_subscribe(h, &id, 1) == HL_ERR_NEEDS_TCP, "subscribe over UDP");
	CHECK(hl_grant(h, "AAAA") == HL_ERR_NEEDS_TCP, "grant over UDP");
	CHECK(hl_subscribe(h, NULL, 1) == HL_ERR_INVALID_ARGUMENT, "NULL ids");
	CHECK(hl_poll_event(h, NULL) == HL_ERR_INVALID_ARGUMENT, "poll into NULL");
	CHECK(hl_get_status(h, NULL) == HL_ERR_INVALID_ARGUMENT, "status into NULL");
	CHECK(hl_set_background_policy(h, 9, 0) == HL_ERR_INVALID_ARGUMENT, "bad policy");
	CHECK(hl_set_background_policy(h, HL_BG_BYE_AFTER, -1) == HL_ERR_INVALID_ARGUMENT, "negative linger");
	CHECK(hl_stop(h) == HL_ERR_STATE, "stop before start");
	CHECK(hl_get_status(h, &st) == HL_OK && st.state == HL_STATE_IDLE && st.active == 1 && st.background_policy == HL_BG_BYE_AFTER &&
	          st.linger_ms == 30000, "fresh status: state %d active %d policy %d linger %lld", st.state, st.active,
	      st.background_policy, (long long)st.linger_ms);
	CHECK(hl_logout(h) == HL_OK, "logout of a never-started handle");
	CHECK(hl_logout(h) == HL_ERR_LOGGED_OUT, "second logout");
	CHECK(hl_start(h) == HL_ERR_LOGGED_OUT, "start after logout");
	CHECK(hl_last_error(buf, sizeof buf) > 0 && strstr(buf, "logged out") != NULL, "message: %s", buf);
	CHECK(hl_destroy(h) == HL_OK, "destroy");
	CHECK(hl_destroy(h) == HL_ERR_INVALID_HANDLE, "double destroy");
	CHECK(hl_start(h) == HL_ERR_INVALID_HANDLE, "start after destroy");

	// A callback may call the API, even hl_destroy of its own handle (here while the handle
	// is still saying HELLO to a port where no gateway listens).
	static atomic_int destroyed;
	h = hl_create(tok, key, "127.0.0.1:9", HL_TRANSPORT_UDP);
	CHECK(h > 0, "hl_create for the re-entrant callback");
	CHECK(hl_set_event_callback(h, destroy_self, &destroyed) == HL_OK, "callback");
	CHECK(hl_start(h) == HL_OK, "start");
	CHECK(wait_for(is_set, &destroyed, 10000) && atomic_load(&destroyed) == 1, "the callback destroyed its own handle");
	CHECK(hl_destroy(h) == HL_ERR_INVALID_HANDLE, "destroy after the callback destroyed it");
}

// ---- the journey ----

// presence of member A as member B's callback saw it
static struct {
	pthread_mutex_t mu;
	int a_state;         // latest HL_PRESENCE_* of A (-1: none yet)
	uint64_t a_version;  // highest version applied
	int a_events;
	int b_state;         // B's own latest HL_STATE_*
	int callbacks;
	pthread_t thread;    // the thread of the first callback
	int other_threads;   // callbacks on any other thread
	uint64_t a_user;
} seen = {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, -1, 0, 0, 0, 0};

static pthread_t main_thread;

static void on_event(void *ctx, int64_t h, const hl_event *e) {
	(void)h;
	CHECK(ctx == (void *)&seen, "callback context passed back unchanged");
	pthread_mutex_lock(&seen.mu);
	if (seen.callbacks++ == 0) {
		seen.thread = pthread_self();
	} else if (!pthread_equal(seen.thread, pthread_self())) {
		seen.other_threads++;
	}
	if (e->kind == HL_EVENT_STATE) {
		seen.b_state = e->state;
	} else if (e->kind == HL_EVENT_PRESENCE && e->user_id == seen.a_user && e->version >= seen.a_version) {
		seen.a_version = e->version; // keep the highest version; equal versions apply in order
		seen.a_state = e->state;
		seen.a_events++;
	}
	pthread_mutex_unlock(&seen.mu);
}

static int a_presence_is(void *want) {
	pthread_mutex_lock(&seen.mu);
	int ok = seen.a_state == *(int *)want;
	pthread_mutex_unlock(&seen.mu);
	return ok;
}

static int b_state_is(void *want) {
	pthread_mutex_lock(&seen.mu);
	int ok = seen.b_state == *(int *)want;
	pthread_mutex_unlock(&seen.mu);
	return ok;
}

// a_wait: A's handle is polled (no callback): wait for hl_get_status to reach want, then check
// the matching HL_EVENT_STATE came out of hl_poll_event.
struct polled {
	int64_t h;
	int want;
	int saw_event;
};

static int polled_state(void *arg) {
	struct polled *p = arg;
	hl_event ev;
	int rc;
	while ((rc = hl_poll_event(p->h, &ev)) == 1) {
		if (ev.kind == HL_EVENT_STATE && ev.state == p->want) p->saw_event = 1;
	}
	CHECK(rc == 0, "hl_poll_event: %d", rc);
	hl_status st;
	CHECK(hl_get_status(p->h, &st) == HL_OK, "hl_get_status");
	return st.state == p->want && p->saw_event;
}

static void a_wait(int64_t h, int want, const char *what) {
	struct polled p = {h, want, 0};
	CHECK(wait_for(polled_state, &p, 20000), "A: %s (state %d) within 20 s", what, want);
}

static void b_sees_a(int want, const char *what) {
	CHECK(wait_for(a_presence_is, &want, 20000), "B's callback: A %s within 20 s", what);
}

static long rss_kb(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f) return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
	fclose(f);
	return kb;
}

static void journey(void) {
	const char *atok = env("HL_A_TOKEN"), *akey = env("HL_A_KEY"), *agws = env("HL_A_GATEWAYS");
	const char *btok = env("HL_B_TOKEN"), *bkey = env("HL_B_KEY"), *bgws = env("HL_B_GATEWAYS"), *bgrant = env("HL_B_GRANT");
	uint64_t a_user = strtoull(env("HL_A_USER"), NULL, 10);
	seen.a_user = a_user;
	main_thread = pthread_self();
	misuse_with(atok, akey, agws);

	// A heartbeats over UDP and is polled.
	int64_t a = hl_create(atok, akey, agws, HL_TRANSPORT_UDP);
	CHECK(a > 0, "hl_create A");
	CHECK(hl_start(a) == HL_OK, "hl_start A");
	CHECK(hl_start(a) == HL_ERR_STATE, "second hl_start");
	a_wait(a, HL_STATE_ONLINE, "online");
	hl_status st;
	CHECK(hl_get_status(a, &st) == HL_OK && st.user_id == a_user && st.interval_ms > 0 && st.gateway[0] != 0, "A status online");
	printf("A online via %s slot %u interval %lld ms\n", st.gateway, st.slot, (long long)st.interval_ms);
	step("a-online");

	// B subscribes to A over TCP with the grant the site issued; events by callback.
	int64_t b = hl_create(btok, bkey, bgws, HL_TRANSPORT_TCP);
	CHECK(b > 0, "hl_create B");
	CHECK(hl_set_event_callback(b, on_event, &seen) == HL_OK, "callback");
	CHECK(hl_grant(b, "!!!") == HL_ERR_INVALID_ARGUMENT, "bad grant");
	CHECK(hl_grant(b, bgrant) == HL_OK, "grant before start");
	CHECK(hl_subscribe(b, &a_user, 1) == HL_OK, "subscribe before start");
	CHECK(hl_start(b) == HL_OK, "hl_start B");
	int online = HL_STATE_ONLINE;
	CHECK(wait_for(b_state_is, &online, 20000), "B online within 20 s");
	b_sees_a(HL_PRESENCE_ONLINE, "online");
	step("b-online");

	// Background with HL_BG_KEEP: still heartbeating, status away; then foreground.
	CHECK(hl_set_background_policy(a, HL_BG_KEEP, 0) == HL_OK, "policy keep");
	CHECK(hl_set_active(a, 0) == HL_OK, "A to the background");
	step("a-away");
	CHECK(hl_get_status(a, &st) == HL_OK && st.state == HL_STATE_ONLINE && st.active == 0, "A online in the background");
	CHECK(hl_set_active(a, 1) == HL_OK, "A to the foreground");
	step("a-active");

	// Background with HL_BG_BYE_AFTER: BYE after the linger, then HELLO on foreground.
	CHECK(hl_set_background_policy(a, HL_BG_BYE_AFTER, 200) == HL_OK, "policy bye");
	CHECK(hl_set_active(a, 0) == HL_OK, "A to the background again");
	a_wait(a, HL_STATE_PAUSED, "paused by the background policy");
	b_sees_a(HL_PRESENCE_OFFLINE, "offline after the background BYE");
	step("a-paused");
	CHECK(hl_set_active(a, 1) == HL_OK, "A back to the foreground");
	a_wait(a, HL_STATE_ONLINE, "online again after the foreground HELLO");
	b_sees_a(HL_PRESENCE_ONLINE, "online again");
	step("a-resumed");

	printf("RSS %ld\n", rss_kb());
	fflush(stdout);

	// Stop (no BYE: the session would end by absence) and start again: HELLO re-finds it.
	CHECK(hl_stop(a) == HL_OK, "hl_stop A");
	CHECK(hl_get_status(a, &st) == HL_OK && st.state == HL_STATE_IDLE, "status after stop: %d", st.state);
	CHECK(hl_stop(a) == HL_ERR_STATE, "second hl_stop");
	CHECK(hl_start(a) == HL_OK, "hl_start A after stop");
	a_wait(a, HL_STATE_ONLINE, "online after stop and start");

	// Logout: BYE; the handle is retired.
	CHECK(hl_logout(a) == HL_OK, "hl_logout A");
	CHECK(hl_get_status(a, &st) == HL_OK && st.state == HL_STATE_LOGGED_OUT, "status after logout: %d", st.state);
	b_sees_a(HL_PRESENCE_OFFLINE, "offline after logout");
	step("a-offline");
	CHECK(hl_logout(a) == HL_ERR_LOGGED_OUT, "second logout");
	CHECK(hl_start(a) == HL_ERR_LOGGED_OUT, "start after logout");
	CHECK(hl_set_active(a, 0) == HL_ERR_LOGGED_OUT, "set_active after logout");
	CHECK(hl_stop(a) == HL_ERR_LOGGED_OUT, "stop after logout");
	CHECK(hl_destroy(a) == HL_OK, "destroy A");
	CHECK(hl_destroy(a) == HL_ERR_INVALID_HANDLE, "double destroy A");

	CHECK(hl_unsubscribe(b, &a_user, 1) == HL_OK, "unsubscribe");
	CHECK(hl_logout(b) == HL_OK, "hl_logout B");
	int out = HL_STATE_LOGGED_OUT;
	CHECK(wait_for(b_state_is, &out, 5000), "B's callback saw its logout");
	CHECK(hl_destroy(b) == HL_OK, "destroy B");

	pthread_mutex_lock(&seen.mu);
	CHECK(seen.callbacks > 0 && seen.other_threads == 0, "%d callbacks, %d on another thread", seen.callbacks, seen.other_threads);
	CHECK(!pthread_equal(seen.thread, main_thread), "callbacks ran on the app's main thread");
	printf("CALLBACKS %d on one SDK thread; A presence events %d\n", seen.callbacks, seen.a_events);
	pthread_mutex_unlock(&seen.mu);
}

int main(int argc, char **argv) {
	if (argc != 2 || (strcmp(argv[1], "misuse") != 0 && strcmp(argv[1], "e2e") != 0)) {
		fprintf(stderr, "usage: %s misuse|e2e\n", argv[0]);
		return 2;
	}
	misuse();
	if (strcmp(argv[1], "e2e") == 0) journey();
	printf("DONE\n");
	return 0;
}
