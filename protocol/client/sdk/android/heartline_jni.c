// heartline_jni.c: JNI glue between Heartline.kt and the Heartline C API (heartline.h),
// one function per external fun. Build it with the NDK into libheartline_jni.so, linked
// against libheartline.so (protocol/APPS.md, "Native SDK"). Listeners live in a small table
// keyed by handle; the SDK's event thread is attached to the JVM once, on its first event,
// and stays attached (it is one thread for the whole library).
#include <jni.h>
#include <pthread.h>
#include <stdlib.h>

#include "heartline.h"

static JavaVM *jvm;

// The NDK's jni.h takes JNIEnv ** where the JDK's (used to syntax-check this file) takes void **.
#ifdef __ANDROID__
#define ENV_OUT(e) (e)
#else
#define ENV_OUT(e) ((void **)(e))
#endif

struct listener {
	int64_t handle;
	jobject bridge; // global ref to Heartline.Bridge
	struct listener *next;
};

static pthread_mutex_t listeners_mu = PTHREAD_MUTEX_INITIALIZER;
static struct listener *listeners;

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
	(void)reserved;
	jvm = vm;
	return JNI_VERSION_1_6;
}

static struct listener **find(int64_t h) {
	struct listener **p = &listeners;
	while (*p != NULL && (*p)->handle != h) p = &(*p)->next;
	return p;
}

// on_event runs on the SDK's event thread.
static void on_event(void *ctx, int64_t h, const hl_event *e) {
	(void)ctx;
	JNIEnv *env;
	if ((*jvm)->GetEnv(jvm, (void **)&env, JNI_VERSION_1_6) != JNI_OK &&
	    (*jvm)->AttachCurrentThreadAsDaemon(jvm, ENV_OUT(&env), NULL) != JNI_OK) {
		return;
	}
	pthread_mutex_lock(&listeners_mu);
	struct listener *l = *find(h);
	jobject bridge = l != NULL ? (*env)->NewLocalRef(env, l->bridge) : NULL;
	pthread_mutex_unlock(&listeners_mu);
	if (bridge == NULL) return;
	jclass cls = (*env)->GetObjectClass(env, bridge);
	jmethodID deliver = (*env)->GetMethodID(env, cls, "deliver", "(IIJIJJ)V");
	if (deliver != NULL) {
		(*env)->CallVoidMethod(env, bridge, deliver, (jint)e->kind, (jint)e->state, (jlong)e->user_id,
		                       (jint)e->devices, (jlong)e->last_seen_ms, (jlong)e->version);
	}
	if ((*env)->ExceptionCheck(env)) (*env)->ExceptionClear(env); // a listener's exception must not kill the SDK thread
	(*env)->DeleteLocalRef(env, cls);
	(*env)->DeleteLocalRef(env, bridge);
}

#define FN(name) Java_com_heartline_sdk_Heartline_##name

JNIEXPORT jlong JNICALL FN(nativeCreate)(JNIEnv *env, jobject self, jstring token, jstring key, jstring gateways, jint transport) {
	(void)self;
	if (token == NULL || key == NULL || gateways == NULL) return HL_ERR_INVALID_ARGUMENT;
	const char *t = (*env)->GetStringUTFChars(env, token, NULL);
	const char *k = (*env)->GetStringUTFChars(env, key, NULL);
	const char *g = (*env)->GetStringUTFChars(env, gateways, NULL);
	jlong h = hl_create(t, k, g, transport);
	(*env)->ReleaseStringUTFChars(env, token, t);
	(*env)->ReleaseStringUTFChars(env, key, k);
	(*env)->ReleaseStringUTFChars(env, gateways, g);
	return h;
}

JNIEXPORT jstring JNICALL FN(nativeLastError)(JNIEnv *env, jobject self) {
	(void)self;
	char buf[512];
	hl_last_error(buf, sizeof buf);
	return (*env)->NewStringUTF(env, buf);
}

JNIEXPORT jint JNICALL FN(nativeStart)(JNIEnv *env, jobject self, jlong h) { (void)env; (void)self; return hl_start(h); }
JNIEXPORT jint JNICALL FN(nativeStop)(JNIEnv *env, jobject self, jlong h) { (void)env; (void)self; return hl_stop(h); }
JNIEXPORT jint JNICALL FN(nativeLogout)(JNIEnv *env, jobject self, jlong h) { (void)env; (void)self; return hl_logout(h); }

JNIEXPORT jint JNICALL FN(nativeSetActive)(JNIEnv *env, jobject self, jlong h, jint active) {
	(void)env; (void)self;
	return hl_set_active(h, active);
}

JNIEXPORT jint JNICALL FN(nativeSetBackgroundPolicy)(JNIEnv *env, jobject self, jlong h, jint policy, jlong linger_ms) {
	(void)env; (void)self;
	return hl_set_background_policy(h, policy, linger_ms);
}

JNIEXPORT jint JNICALL FN(nativeGrant)(JNIEnv *env, jobject self, jlong h, jstring grant) {
	(void)self;
	if (grant == NULL) return HL_ERR_INVALID_ARGUMENT;
	const char *g = (*env)->GetStringUTFChars(env, grant, NULL);
	jint rc = hl_grant(h, g);
	(*env)->ReleaseStringUTFChars(env, grant, g);
	return rc;
}

JNIEXPORT jint JNICALL FN(nativeSubscribe)(JNIEnv *env, jobject self, jlong h, jlongArray ids, jboolean unsubscribe) {
	(void)self;
	if (ids == NULL) return HL_ERR_INVALID_ARGUMENT;
	jsize n = (*env)->GetArrayLength(env, ids);
	jlong *p = (*env)->GetLongArrayElements(env, ids, NULL);
	jint rc = unsubscribe ? hl_unsubscribe(h, (const uint64_t *)p, n) : hl_subscribe(h, (const uint64_t *)p, n);
	(*env)->ReleaseLongArrayElements(env, ids, p, JNI_ABORT);
	return rc;
}

JNIEXPORT jint JNICALL FN(nativeSetListener)(JNIEnv *env, jobject self, jlong h, jobject bridge) {
	(void)self;
	pthread_mutex_lock(&listeners_mu);
	struct listener **p = find(h);
	if (*p != NULL) { // replace or remove the old one
		struct listener *old = *p;
		(*env)->DeleteGlobalRef(env, old->bridge);
		*p = old->next;
		free(old);
	}
	if (bridge != NULL) {
		struct listener *l = malloc(sizeof *l);
		if (l == NULL) {
			pthread_mutex_unlock(&listeners_mu);
			return HL_ERR_INTERNAL;
		}
		l->handle = h;
		l->bridge = (*env)->NewGlobalRef(env, bridge);
		l->next = listeners;
		listeners = l;
	}
	pthread_mutex_unlock(&listeners_mu);
	return hl_set_event_callback(h, bridge != NULL ? on_event : NULL, NULL);
}

JNIEXPORT jint JNICALL FN(nativePollEvent)(JNIEnv *env, jobject self, jlong h, jlongArray out) {
	(void)self;
	hl_event e;
	jint rc = hl_poll_event(h, &e);
	if (rc == 1 && out != NULL && (*env)->GetArrayLength(env, out) >= 6) {
		jlong f[6] = {e.kind, e.state, (jlong)e.user_id, e.devices, (jlong)e.last_seen_ms, (jlong)e.version};
		(*env)->SetLongArrayRegion(env, out, 0, 6, f);
	}
	return rc;
}

JNIEXPORT jint JNICALL FN(nativeStatus)(JNIEnv *env, jobject self, jlong h, jlongArray out) {
	(void)self;
	hl_status s;
	jint rc = hl_get_status(h, &s);
	if (rc == HL_OK && out != NULL && (*env)->GetArrayLength(env, out) >= 11) {
		jlong f[11] = {s.state, s.active, s.transport, s.background_policy, s.linger_ms, (jlong)s.user_id,
		               s.slot, s.epoch, s.interval_ms, s.events_queued, (jlong)s.events_dropped};
		(*env)->SetLongArrayRegion(env, out, 0, 11, f);
	}
	return rc;
}

JNIEXPORT jint JNICALL FN(nativeDestroy)(JNIEnv *env, jobject self, jlong h) {
	(void)self;
	jint rc = hl_destroy(h); // a callback of h already running finds no listener below
	pthread_mutex_lock(&listeners_mu);
	struct listener **p = find(h);
	if (*p != NULL) {
		struct listener *old = *p;
		(*env)->DeleteGlobalRef(env, old->bridge);
		*p = old->next;
		free(old);
	}
	pthread_mutex_unlock(&listeners_mu);
	return rc;
}
