import CLabHost
import Foundation
import LabModel

/// The stdio of an interactive instance, without handing it the host's
/// terminal. A process that holds the user's terminal could push input into
/// it (TIOCSTI) or change its modes for the shell that comes after; so, as
/// runc's `--tty` does:
/// - stdin a terminal: the instance gets a new pseudo-terminal of its own
///   (stdin, stdout and stderr), its controlling terminal; the lab puts the
///   host's terminal in raw mode and relays bytes both ways, and the window
///   size (SIGWINCH). Ctrl-C reaches the instance as a byte, as with
///   `docker run -it`.
/// - otherwise stdin is handed over as it is (a file or a pipe), and a
///   stdout or stderr that is a terminal becomes a pipe the lab copies.
public final class TerminalRelay: @unchecked Sendable {
    /// The descriptors the instance gets as 0, 1 and 2.
    public private(set) var childFDs: (stdin: Int32, stdout: Int32, stderr: Int32)
    /// The instance's stdin is a pty: make it the controlling terminal.
    public let usesPTY: Bool

    private var master: Int32 = -1
    /// Our end of each output pipe, and the host descriptor it copies to.
    private var pipes: [(read: Int32, to: Int32)] = []
    /// The child's ends, closed in the lab once the instance has them.
    private var childEnds: [Int32] = []
    private var savedMode: termios?
    private var stopPipe: [Int32] = [-1, -1]
    private let finished = DispatchGroup()
    private let input = DispatchGroup()
    private var winch: DispatchSourceSignal?
    private var restoreToken: UInt64?
    private let lock = NSLock()
    private var done = false

    /// Decides from the lab's own 0, 1 and 2. Nothing is relayed before `start`.
    public init(stdin: Int32 = 0, stdout: Int32 = 1, stderr: Int32 = 2) throws {
        guard pipe(&stopPipe) == 0 else { throw LabError.syscall("pipe") }
        for fd in stopPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        if isatty(stdin) == 1 {
            var m: Int32 = -1
            var s: Int32 = -1
            let err = lab_open_pty(&m, &s)
            guard err == 0 else { Self.closeAll(stopPipe); throw LabError.syscall("open a pseudo-terminal", errno: err) }
            master = m
            childEnds = [s]
            childFDs = (s, s, s)
            usesPTY = true
            pipes = [(m, stdout)]
            Self.copyWindowSize(from: stdin, to: s)
        } else {
            usesPTY = false
            var fds = (stdin: stdin, stdout: stdout, stderr: stderr)
            for which in [1, 2] {
                let host = which == 1 ? stdout : stderr
                guard isatty(host) == 1 else { continue }
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { throw LabError.syscall("pipe") }
                _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                pipes.append((ends[0], host))
                childEnds.append(ends[1])
                if which == 1 { fds.stdout = ends[1] } else { fds.stderr = ends[1] }
            }
            childFDs = fds
        }
        self.hostStdin = stdin
    }

    private let hostStdin: Int32

    /// Once the instance holds its ends: closes the lab's copies, puts the
    /// host terminal in raw mode (pty) and starts copying.
    public func start() {
        Self.closeAll(childEnds)
        childEnds = []
        if usesPTY {
            var mode = termios()
            if tcgetattr(hostStdin, &mode) == 0 {
                savedMode = mode
                var raw = mode
                cfmakeraw(&raw)
                _ = tcsetattr(hostStdin, TCSANOW, &raw)
                // A signal that ends the lab must still give the terminal back.
                restoreToken = CleanupRegistry.shared.register { [weak self] in self?.restoreTerminal() }
            }
            signal(SIGWINCH, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGWINCH)
            let (from, to) = (hostStdin, master)
            source.setEventHandler { Self.copyWindowSize(from: from, to: to) }
            source.resume()
            winch = source
            input.enter()
            spawn { [hostStdin, master, stopPipe, input] in
                Self.copy(from: hostStdin, to: master, stop: stopPipe[0])
                input.leave()
            }
        }
        for (read, to) in pipes {
            finished.enter()
            spawn { [finished] in
                Self.copy(from: read, to: to, stop: -1)
                finished.leave()
            }
        }
    }

    /// After the instance has exited: drains its output (a pty reads EIO
    /// once no process holds its other end), stops the input copy and gives
    /// the host terminal back. Safe to call twice.
    public func finish(timeout: Double = 2) {
        let first = lock.withLock { () -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        Self.closeAll(childEnds)
        _ = finished.wait(timeout: .now() + timeout)
        var byte: UInt8 = 0
        _ = write(stopPipe[1], &byte, 1)
        _ = input.wait(timeout: .now() + 1)
        winch?.cancel()
        restoreTerminal()
        if let restoreToken { CleanupRegistry.shared.unregister(restoreToken) }
    }

    private func restoreTerminal() {
        guard var mode = savedMode else { return }
        _ = tcsetattr(hostStdin, TCSAFLUSH, &mode)
    }

    private func spawn(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = "isolab.terminal"
        thread.start()
    }

    /// Copies until end of file or an error (EIO: the pty's other side is
    /// closed), or until `stop` is readable.
    private static func copy(from: Int32, to: Int32, stop: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        var polls = [pollfd(fd: from, events: Int16(POLLIN), revents: 0)]
        if stop >= 0 { polls.append(pollfd(fd: stop, events: Int16(POLLIN), revents: 0)) }
        while true {
            let ready = poll(&polls, nfds_t(polls.count), -1)
            if ready < 0 { if errno == EINTR { continue } else { return } }
            if polls.count > 1 && polls[1].revents != 0 { return }
            guard polls[0].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(to, $0.baseAddress! + offset, count - offset) }
                if written < 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }

    private static func copyWindowSize(from: Int32, to: Int32) {
        var size = winsize()
        if lab_get_window_size(from, &size) == 0 { _ = lab_set_window_size(to, &size) }
    }

    private static func closeAll(_ fds: [Int32]) {
        for fd in Set(fds) where fd >= 0 { close(fd) }
    }

    deinit {
        finish(timeout: 0)
        Self.closeAll([master] + pipes.map(\.read).filter { $0 != master } + stopPipe)
    }
}
