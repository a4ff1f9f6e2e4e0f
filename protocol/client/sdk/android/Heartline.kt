// Heartline.kt: a thin Kotlin wrapper over the Heartline C API (heartline.h) through JNI
// (heartline_jni.c), one call per C function. Not compiled in this repository (no Android
// toolchain here); build notes are in protocol/APPS.md ("Native SDK"). Package
// libheartline.so (make sdk, built for Android: see APPS.md) and libheartline_jni.so in
// jniLibs/<abi>/.
package com.heartline.sdk

class HeartlineException(val code: Int, message: String) : Exception("Heartline error $code: $message")

class Heartline(token: String, sessionKey: String, gatewaysJson: String, transport: Int = TRANSPORT_UDP) : AutoCloseable {
    data class Event(val kind: Int, val state: Int, val userId: Long, val devices: Int, val lastSeenMs: Long, val version: Long)

    /** Called on the SDK's event thread (attached to the JVM once): post to the main looper. */
    fun interface Listener { fun onEvent(event: Event) }

    // The JNI glue calls deliver(kind, state, userId, devices, lastSeenMs, version) by name: keep
    // it from shrinkers (-keep class com.heartline.sdk.Heartline$Bridge { *; }).
    private class Bridge(val listener: Listener) {
        @Suppress("unused")
        fun deliver(kind: Int, state: Int, userId: Long, devices: Int, lastSeenMs: Long, version: Long) =
            listener.onEvent(Event(kind, state, userId, devices, lastSeenMs, version))
    }

    val handle: Long = nativeCreate(token, sessionKey, gatewaysJson, transport).also {
        if (it < 0) throw HeartlineException(it.toInt(), nativeLastError())
    }

    private fun check(rc: Int): Int {
        if (rc < 0) throw HeartlineException(rc, nativeLastError())
        return rc
    }

    fun start() { check(nativeStart(handle)) }
    fun stop() { check(nativeStop(handle)) }
    fun setActive(active: Boolean) { check(nativeSetActive(handle, if (active) 1 else 0)) }
    fun setBackgroundPolicy(policy: Int, lingerMs: Long = 30_000) { check(nativeSetBackgroundPolicy(handle, policy, lingerMs)) }
    fun logout() { check(nativeLogout(handle)) }
    fun grant(grant: String) { check(nativeGrant(handle, grant)) }
    fun subscribe(ids: LongArray) { check(nativeSubscribe(handle, ids, false)) }
    fun unsubscribe(ids: LongArray) { check(nativeSubscribe(handle, ids, true)) }
    fun setListener(listener: Listener?) { check(nativeSetListener(handle, listener?.let { Bridge(it) })) }

    fun pollEvent(): Event? {
        val f = LongArray(6)
        return if (check(nativePollEvent(handle, f)) == 1) Event(f[0].toInt(), f[1].toInt(), f[2], f[3].toInt(), f[4], f[5]) else null
    }

    /** [state, active, transport, backgroundPolicy, lingerMs, userId, slot, epoch, intervalMs, eventsQueued, eventsDropped] */
    fun status(): LongArray = LongArray(11).also { check(nativeStatus(handle, it)) }

    /** No BYE: call logout() first for a logout. */
    override fun close() { nativeDestroy(handle) }

    private external fun nativeCreate(token: String, sessionKey: String, gateways: String, transport: Int): Long
    private external fun nativeLastError(): String
    private external fun nativeStart(h: Long): Int
    private external fun nativeStop(h: Long): Int
    private external fun nativeSetActive(h: Long, active: Int): Int
    private external fun nativeSetBackgroundPolicy(h: Long, policy: Int, lingerMs: Long): Int
    private external fun nativeLogout(h: Long): Int
    private external fun nativeGrant(h: Long, grant: String): Int
    private external fun nativeSubscribe(h: Long, ids: LongArray, unsubscribe: Boolean): Int
    private external fun nativeSetListener(h: Long, bridge: Any?): Int
    private external fun nativePollEvent(h: Long, out: LongArray): Int
    private external fun nativeStatus(h: Long, out: LongArray): Int
    private external fun nativeDestroy(h: Long): Int

    companion object {
        const val TRANSPORT_UDP = 0
        const val TRANSPORT_TCP = 1
        const val BG_KEEP = 0
        const val BG_BYE_AFTER = 1
        const val EVENT_PRESENCE = 1
        const val EVENT_STATE = 2

        init {
            System.loadLibrary("heartline")
            System.loadLibrary("heartline_jni")
        }
    }
}
