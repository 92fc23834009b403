import CLibvirt
import Dispatch
import LabCore

/// The details libvirt gives with an error (`virGetLastError`).
public struct LibvirtErrorDetail: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var domain: Int32
    public var message: String
    public var description: String { "\(message) (libvirt error \(code), domain \(domain))" }
}

/// libvirt's library-wide state: initialised once, errors kept off stderr
/// (the lab reports them itself).
enum LibvirtLibrary {
    static let initialized: Bool = {
        let ok = virInitialize() == 0
        virSetErrorFunc(nil) { _, _ in }
        return ok
    }()

    /// The last error of the calling thread, as the lab's error; call on the
    /// thread that made the failing call.
    static func lastError(_ step: String) -> LabError {
        guard let error = virGetLastError() else {
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
        _ = initialized
        var version: UInt = 0
        guard virGetVersion(&version, nil, nil) == 0 else { return nil }
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
                guard LibvirtLibrary.initialized else {
                    continuation.resume(throwing: LabError(.libvirt, "libvirt: virInitialize failed"))
                    return
                }
                guard let pointer = virConnectOpen(uri) else {
                    var error = LibvirtLibrary.lastError("connect to \(uri)")
                    error.message += "; is libvirtd running? start it with scripts/setup-host, or pass another --libvirt-uri"
                    continuation.resume(throwing: error)
                    return
                }
                continuation.resume(returning: LibvirtConnection(pointer: pointer, uri: uri, queue: queue))
            }
        }
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
            guard virConnectGetVersion(connection, &version) == 0 else {
                throw LibvirtLibrary.lastError("virConnectGetVersion")
            }
            return LibvirtLibrary.format(version)
        }
    }

    /// The version of the libvirt daemon at the other end.
    public func daemonVersion() async throws -> String {
        try await call { connection in
            var version: UInt = 0
            guard virConnectGetLibVersion(connection, &version) == 0 else {
                throw LibvirtLibrary.lastError("virConnectGetLibVersion")
            }
            return LibvirtLibrary.format(version)
        }
    }

    deinit {
        let pointer = UnsafeSendable(pointer)
        queue.async { virConnectClose(pointer.value) }
    }
}

/// Carries a C pointer across the hop to the connection's queue, where alone it is used.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
