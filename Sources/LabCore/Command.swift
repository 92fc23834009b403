import Foundation
import LabModel

/// Runs a host program to completion and captures its output. For the lab's
/// slow paths only (version queries, probes): never between "launch" and
/// "ready" of a measured instance.
public enum HostCommand {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var timedOut: Bool
    }

    /// The full path of `name` on `$PATH`, if any.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return FileSystem.exists(name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0, !FileSystem.isDirectory(candidate) { return candidate }
        }
        return nil
    }

    /// Runs `executable` with `arguments`; kills it after `timeout` seconds.
    /// When `until` is given, also stops it as soon as stdout contains that text.
    /// `environment` adds to (or replaces entries of) the lab's own environment.
    public static func run(
        _ executable: String, _ arguments: [String], timeout: Double = 10, until marker: String? = nil,
        environment: [String: String] = [:]
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardInput = FileHandle.nullDevice
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do {
            try process.run()
        } catch {
            throw LabError(.failed, "start \(executable): \(error.localizedDescription)")
        }
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        var sawMarker = false
        var fds = [
            pollfd(fd: out.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: err.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        var open = 2
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open > 0 {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { timedOut = true; break }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, 1000)) + 1)
            if ready < 0 && errno != EINTR { break }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[index].fd, $0.baseAddress, $0.count) }
                if n <= 0 {
                    fds[index].fd = -1
                    open -= 1
                } else if index == 0 {
                    stdout.append(contentsOf: buffer[0..<n])
                } else {
                    stderr.append(contentsOf: buffer[0..<n])
                }
            }
            if let marker, String(decoding: stdout, as: UTF8.self).contains(marker) {
                sawMarker = true
                break
            }
        }
        // Only a program the lab gave up on, or no longer needs, is killed; one
        // that closed its output is merely finishing its exit.
        if (timedOut || sawMarker) && process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self),
            timedOut: timedOut)
    }

    /// The first line `executable --version` prints, or nil.
    public static func version(of executable: String) -> String? {
        guard let output = try? run(executable, ["--version"], timeout: 5), output.status == 0 else { return nil }
        let text = output.stdout.isEmpty ? output.stderr : output.stdout
        return text.split(separator: "\n").first.map { String($0).trimmingWhitespace() }
    }
}
