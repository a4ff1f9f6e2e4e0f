// Heartline.swift: a thin Swift wrapper over the Heartline C API (heartline.h), one call per
// C function. Not compiled in this repository (no Swift toolchain here); build notes are in
// protocol/APPS.md ("Native SDK"). Link libheartline.a (make sdk, built for iOS: see APPS.md)
// and expose heartline.h to Swift through the bridging header or a module map.
import Foundation

public struct HeartlineError: Error, CustomStringConvertible {
    public let code: Int32 // HL_ERR_*
    public let message: String // hl_last_error on the calling thread
    public var description: String { "Heartline error \(code): \(message)" }
}

public final class Heartline {
    public enum Transport: Int32 { case udp = 0, tcp = 1 } // HL_TRANSPORT_*
    public enum BackgroundPolicy: Int32 { case keep = 0, byeAfter = 1 } // HL_BG_*

    public struct Event {
        public let kind: Int32 // HL_EVENT_PRESENCE or HL_EVENT_STATE
        public let state: Int32 // HL_PRESENCE_* or HL_STATE_*
        public let userID: UInt64
        public let devices: UInt32
        public let lastSeenMS: UInt64
        public let version: UInt64
        init(_ e: hl_event) {
            kind = e.kind; state = e.state; userID = e.user_id; devices = e.devices
            lastSeenMS = e.last_seen_ms; version = e.version
        }
    }

    public let handle: Int64
    // Called on the SDK's event thread: hop to the main queue before touching UI.
    private var onEvent: ((Event) -> Void)?

    /// (HL_ABI_VERSION, "heartline-sdk x.y.z (HL1; goX)")
    public static var version: (abi: Int32, text: String) {
        var buf = [CChar](repeating: 0, count: 128)
        let abi = hl_version(&buf, Int32(buf.count))
        return (abi, String(cString: buf))
    }

    private static func lastError(_ code: Int32) -> HeartlineError {
        var buf = [CChar](repeating: 0, count: 512)
        _ = hl_last_error(&buf, Int32(buf.count))
        return HeartlineError(code: code, message: String(cString: buf))
    }

    private func check(_ rc: Int32) throws {
        if rc < 0 { throw Heartline.lastError(rc) }
    }

    /// token, sessionKey and gatewaysJSON exactly as POST /api/session returned them.
    public init(token: String, sessionKey: String, gatewaysJSON: String, transport: Transport) throws {
        let h = hl_create(token, sessionKey, gatewaysJSON, transport.rawValue)
        if h < 0 { throw Heartline.lastError(Int32(h)) }
        handle = h
    }

    // No BYE: call logout() first for a logout. Clear the event handler before the last
    // reference goes if events may still be arriving (the SDK holds the wrapper unretained).
    deinit { _ = hl_destroy(handle) }

    public func start() throws { try check(hl_start(handle)) }
    public func stop() throws { try check(hl_stop(handle)) }
    public func setActive(_ active: Bool) throws { try check(hl_set_active(handle, active ? 1 : 0)) }
    public func setBackgroundPolicy(_ p: BackgroundPolicy, lingerMS: Int64 = 30_000) throws {
        try check(hl_set_background_policy(handle, p.rawValue, lingerMS))
    }
    public func logout() throws { try check(hl_logout(handle)) }

    /// grant: the "grant" field of POST /api/grant, as returned.
    public func grant(_ grant: String) throws {
        try check(hl_grant(handle, grant))
    }

    public func subscribe(_ ids: [UInt64]) throws { try check(hl_subscribe(handle, ids, Int32(ids.count))) }
    public func unsubscribe(_ ids: [UInt64]) throws { try check(hl_unsubscribe(handle, ids, Int32(ids.count))) }

    /// Events on the SDK's event thread (nil: back to pollEvent). The handler must return
    /// quickly. The wrapper is not retained by the SDK: keep it alive while events matter.
    public func setEventHandler(_ handler: ((Event) -> Void)?) throws {
        onEvent = handler
        guard handler != nil else { try check(hl_set_event_callback(handle, nil, nil)); return }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        try check(hl_set_event_callback(handle, { ctx, _, ev in
            guard let ctx = ctx, let ev = ev else { return }
            Unmanaged<Heartline>.fromOpaque(ctx).takeUnretainedValue().onEvent?(Event(ev.pointee))
        }, ctx))
    }

    public func pollEvent() throws -> Event? {
        var ev = hl_event()
        let rc = hl_poll_event(handle, &ev)
        try check(rc)
        return rc == 1 ? Event(ev) : nil
    }

    public func status() throws -> hl_status {
        var st = hl_get_status()
        try check(hl_get_status(handle, &st))
        return st
    }
}
