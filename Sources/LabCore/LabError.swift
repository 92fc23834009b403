import CLabShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type every target throws: a code, a one-line message that
/// names what was wrong (and how to fix it, when that is known), and an
/// optional underlying cause.
public struct LabError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable, Codable {
        /// The user's input was wrong (exit status 2).
        case invalidInput
        /// Something named does not exist (an image, a kernel, a file).
        case notFound
        /// A system call failed; the message names the step and the errno.
        case systemCall
        /// The libvirt C API reported an error.
        case libvirt
        /// Something did not happen in time.
        case timeout
        /// The host lacks something the lab needs.
        case unsupported
        /// Anything else that went wrong inside the lab.
        case failed
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying else { return message }
        return "\(message): \(underlying)"
    }

    /// Bad input exits with 2, as argument-parser does; everything else with 1.
    public var exitStatus: Int32 { code == .invalidInput ? 2 : 1 }

    /// An error from a system call: `create cgroup /x: EACCES (permission denied)`.
    public static func syscall(_ step: String, errno err: Int32) -> LabError {
        LabError(.systemCall, "\(step): \(Errno.describe(err))")
    }

    /// The same, reading the calling thread's errno.
    public static func syscall(_ step: String) -> LabError {
        syscall(step, errno: errno)
    }
}

/// Names for errno values, as the lab prints them.
public enum Errno {
    /// `EACCES (permission denied)`.
    public static func describe(_ err: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 320)
        lab_errno_describe(err, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The bare symbol, `EACCES`.
    public static func name(_ err: Int32) -> String {
        lab_errno_name(err).map { String(cString: $0) } ?? "errno \(err)"
    }
}
