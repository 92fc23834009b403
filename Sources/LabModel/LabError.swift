/// The one error type every target throws: a code, a one-line message that
/// names what was wrong (and how to fix it, when that is known), and an
/// optional underlying cause. It lives with the models because errors cross
/// the pipeline too (a trial's error is recorded in the results); the errno
/// helpers that need the C shim are in LabCore (`LabError.syscall`).
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
        /// Another lab process holds what this one needs (a lock).
        case busy
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
}
