import CLibvirt
import Foundation
import LabCore
import LabModel

/// The details libvirt gives with an error (`virGetLastError`).
public struct LibvirtErrorDetail: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var domain: Int32
    public var message: String
    public var description: String { "\(message) (libvirt error \(code), domain \(domain))" }
}

/// libvirt's library-wide state: loaded on first use (dlopen), initialised
/// once, errors kept off stderr (the lab reports them itself).
enum LibvirtLibrary {
    /// The API table, or why libvirt could not be loaded.
    static let loaded: Result<lab_libvirt_api, LabError> = {
        var reason = [CChar](repeating: 0, count: 256)
        guard let table = lab_libvirt_api(&reason, reason.count) else {
            return .failure(LabError(.unsupported, "libvirt: " + String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        return .success(table.pointee)
    }()

    /// The API table; call only after `initialized` is true.
    static var api: lab_libvirt_api { try! loaded.get() }

    /// virInitialize once, errors silenced, and the default event loop
    /// registered (it must be before any connection opens) and run on a
    /// thread of its own, so that domain events arrive without polling.
    static let initialized: Result<Void, LabError> = {
        let api: lab_libvirt_api
        switch loaded {
        case .success(let table): api = table
        case .failure(let error): return .failure(error)
        }
        let ok = api.virInitialize() == 0
        api.virSetErrorFunc(nil) { _, _ in }
        guard ok, api.virEventRegisterDefaultImpl() == 0 else { return .failure(LabError(.libvirt, "libvirt: virInitialize failed")) }
        let thread = Thread {
            while true {
                if api.virEventRunDefaultImpl() != 0 { usleep(1000) }
            }
        }
        thread.name = "isolab.libvirt-events"
        thread.start()
        return .success(())
    }()

    /// The last error of the calling thread, as the lab's error; call on the
    /// thread that made the failing call.
    static func lastError(_ step: String) -> LabError {
        guard let error = api.virGetLastError() else {
            return LabError(.libvirt, "libvirt: \(step) failed without an error message")
        }
        let detail = LibvirtErrorDetail(
            code: error.pointee.code, domain: error.pointee.domain,
            message: error.pointee.message.map { String(cString: $0) } ?? "unknown error")
        return LabError(.libvirt, "libvirt: \(step): \(detail.message)", underlying: detail)
    }

    /// libvirt packs versions as major * 1,000,000 + minor * 1,000 + release.
    static func format(_ packed: UInt) -> String {
        "\(packed / 1_000_000).\((packed / 1_000) % 1_000).\(packed % 1_000)"
    }

    /// The libvirt library's own version.
    static func libraryVersion() -> String? {
        guard case .success = initialized else { return nil }
        var version: UInt = 0
        guard api.virGetVersion(&version, nil, nil) == 0 else { return nil }
        return format(version)
    }
}

/// A connection to a libvirt daemon. libvirt's calls block, so every call
/// runs on one serial queue of its own, never on Swift's cooperative pool,
/// and is exposed as `async`.
public final class LibvirtConnection: @unchecked Sendable {
    // The connection pointer is only touched on `queue`.
    private let queue: DispatchQueue
    private let pointer: OpaquePointer
    public let uri: String

    private let broker = LifecycleBroker()
    private var callbackID: Int32 = -1

    private init(pointer: OpaquePointer, uri: String, queue: DispatchQueue) {
        self.pointer = pointer
        self.uri = uri
        self.queue = queue
    }

    /// The libvirt library's version, without a connection.
    public static var libraryVersion: String? { LibvirtLibrary.libraryVersion() }

    /// Opens a connection; the error says how to start the daemon.
    public static func open(uri: String) async throws -> LibvirtConnection {
        let queue = DispatchQueue(label: "isolab.libvirt")
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                if case .failure(let error) = LibvirtLibrary.initialized {
                    continuation.resume(throwing: error)
                    return
                }
                let api = LibvirtLibrary.api
                guard let pointer = api.virConnectOpen(uri) else {
                    var error = LibvirtLibrary.lastError("connect to \(uri)")
                    error.message += "; is libvirtd running? start it with scripts/setup-host, or pass another --libvirt-uri"
                    continuation.resume(throwing: error)
                    return
                }
                let connection = LibvirtConnection(pointer: pointer, uri: uri, queue: queue)
                connection.callbackID = api.virConnectDomainEventRegisterAny(
                    pointer, nil, Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue),
                    unsafeBitCast(lifecycleCallback, to: virConnectDomainEventGenericCallback.self),
                    Unmanaged.passUnretained(connection.broker).toOpaque(), nil)
                continuation.resume(returning: connection)
            }
        }
    }

    /// Lifecycle events of every domain on this connection, from now on.
    public func lifecycleEvents() -> AsyncStream<LifecycleEvent> {
        broker.subscribe()
    }

    /// Runs a blocking libvirt call on the connection's queue.
    func call<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let pointer = UnsafeSendable(pointer)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(pointer.value) })
            }
        }
    }

    /// The hypervisor's version (QEMU's, for a `qemu://` URI).
    public func hypervisorVersion() async throws -> String {
        try await call { connection in
            var version: UInt = 0
            guard LibvirtLibrary.api.virConnectGetVersion(connection, &version) == 0 else {
                throw LibvirtLibrary.lastError("virConnectGetVersion")
            }
            return LibvirtLibrary.format(version)
        }
    }

    /// The version of the libvirt daemon at the other end.
    public func daemonVersion() async throws -> String {
        try await call { connection in
            var version: UInt = 0
            guard LibvirtLibrary.api.virConnectGetLibVersion(connection, &version) == 0 else {
                throw LibvirtLibrary.lastError("virConnectGetLibVersion")
            }
            return LibvirtLibrary.format(version)
        }
    }

    /// Starts a transient domain from XML (`virDomainCreateXML`); it is gone
    /// once it stops. Returns its name.
    public func createTransient(xml: String) async throws -> String {
        try await call { connection in
            guard let domain = LibvirtLibrary.api.virDomainCreateXML(connection, xml, 0) else {
                throw LibvirtLibrary.lastError("virDomainCreateXML")
            }
            defer { _ = LibvirtLibrary.api.virDomainFree(domain) }
            return LibvirtLibrary.api.virDomainGetName(domain).map { String(cString: $0) } ?? ""
        }
    }

    /// Destroys (powers off at once) the named domain; true when it was running.
    @discardableResult
    public func destroy(name: String) async throws -> Bool {
        try await call { connection in
            guard let domain = LibvirtLibrary.api.virDomainLookupByName(connection, name) else { return false }
            defer { _ = LibvirtLibrary.api.virDomainFree(domain) }
            guard LibvirtLibrary.api.virDomainIsActive(domain) == 1 else {
                _ = LibvirtLibrary.api.virDomainUndefine(domain)
                return false
            }
            if LibvirtLibrary.api.virDomainDestroy(domain) != 0 {
                // Gone in the meantime is what was wanted.
                guard LibvirtLibrary.api.virDomainIsActive(domain) == 1 else { return true }
                throw LibvirtLibrary.lastError("virDomainDestroy \(name)")
            }
            return true
        }
    }

    /// Whether the named domain exists and runs.
    public func isActive(name: String) async throws -> Bool {
        try await call { connection in
            guard let domain = LibvirtLibrary.api.virDomainLookupByName(connection, name) else { return false }
            defer { _ = LibvirtLibrary.api.virDomainFree(domain) }
            return LibvirtLibrary.api.virDomainIsActive(domain) == 1
        }
    }

    /// Names of every domain, running or defined.
    public func domainNames() async throws -> [String] {
        try await call { connection in
            var domains: UnsafeMutablePointer<virDomainPtr?>?
            let count = LibvirtLibrary.api.virConnectListAllDomains(connection, &domains, 0)
            guard count >= 0 else { throw LibvirtLibrary.lastError("virConnectListAllDomains") }
            defer { free(domains) }
            var names: [String] = []
            for index in 0..<Int(count) {
                guard let domain = domains?[index] else { continue }
                names.append(LibvirtLibrary.api.virDomainGetName(domain).map { String(cString: $0) } ?? "")
                _ = LibvirtLibrary.api.virDomainFree(domain)
            }
            return names
        }
    }

    /// CPU time of the domain as libvirt reports it (its QEMU process), nanoseconds.
    public func cpuTime(name: String) async throws -> UInt64? {
        try await call { connection in
            guard let domain = LibvirtLibrary.api.virDomainLookupByName(connection, name) else { return nil }
            defer { _ = LibvirtLibrary.api.virDomainFree(domain) }
            var info = virDomainInfo()
            guard LibvirtLibrary.api.virDomainGetInfo(domain, &info) == 0 else { return nil }
            return UInt64(info.cpuTime)
        }
    }

    deinit {
        let pointer = UnsafeSendable(pointer)
        let callbackID = callbackID
        let broker = Unmanaged.passRetained(broker)
        queue.async {
            if callbackID >= 0 { _ = LibvirtLibrary.api.virConnectDomainEventDeregisterAny(pointer.value, callbackID) }
            _ = LibvirtLibrary.api.virConnectClose(pointer.value)
            // The event thread may still be inside a callback that uses it: keep it a little longer.
            DispatchQueue.global().asyncAfter(deadline: .now() + 1) { broker.release() }
        }
    }
}

/// Carries a C pointer across the hop to the connection's queue, where alone it is used.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A domain lifecycle event (`VIR_DOMAIN_EVENT_ID_LIFECYCLE`).
public struct LifecycleEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case defined, undefined, started, suspended, resumed, stopped, shutdown, pmsuspended, crashed, other(Int32)
    }
    public var domain: String
    public var kind: Kind
    public var detail: Int32
    /// When the event thread received it (monotonic ns).
    public var receivedAt: UInt64

    static func kind(_ raw: Int32) -> Kind {
        switch raw {
        case 0: .defined
        case 1: .undefined
        case 2: .started
        case 3: .suspended
        case 4: .resumed
        case 5: .stopped
        case 6: .shutdown
        case 7: .pmsuspended
        case 8: .crashed
        default: .other(raw)
        }
    }
}

/// Fans lifecycle events out to every subscriber's AsyncStream.
final class LifecycleBroker: @unchecked Sendable {
    private let lock = NSLock()
    private var continuations: [UUID: AsyncStream<LifecycleEvent>.Continuation] = [:]

    func subscribe() -> AsyncStream<LifecycleEvent> {
        let id = UUID()
        return AsyncStream(bufferingPolicy: .bufferingNewest(256)) { continuation in
            lock.withLock { continuations[id] = continuation }
            continuation.onTermination = { [weak self] _ in
                self?.lock.withLock { _ = self?.continuations.removeValue(forKey: id) }
            }
        }
    }

    func publish(_ event: LifecycleEvent) {
        let targets = lock.withLock { Array(continuations.values) }
        for continuation in targets { continuation.yield(event) }
    }
}

/// The C callback libvirt's event thread calls; `opaque` is the broker.
private let lifecycleCallback: @convention(c) (OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
    _, domain, event, detail, opaque in
    guard let domain, let opaque else { return 0 }
    let broker = Unmanaged<LifecycleBroker>.fromOpaque(opaque).takeUnretainedValue()
    let name = LibvirtLibrary.api.virDomainGetName(domain).map { String(cString: $0) } ?? ""
    broker.publish(LifecycleEvent(domain: name, kind: LifecycleEvent.kind(event), detail: detail, receivedAt: MonotonicClock.now()))
    return 0
}
