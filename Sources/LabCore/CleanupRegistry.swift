import Foundation

/// What the lab must undo if it is interrupted: running containers, VM
/// domains, temporary files. Each live resource registers its teardown; on
/// SIGINT, SIGTERM or SIGHUP every registered teardown runs, then the lab
/// exits with 128 + the signal number. A teardown must be safe to run twice
/// (once here, once by its owner).
public final class CleanupRegistry: @unchecked Sendable {
    public static let shared = CleanupRegistry()

    private let lock = NSLock()
    private var actions: [(token: UInt64, action: @Sendable () -> Void)] = []
    private var nextToken: UInt64 = 1
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "isolab.signals")
    /// The signal received, if any; owners that loop may check it to stop early.
    public var interrupted: Int32? { lock.withLock { _interrupted } }
    private var _interrupted: Int32?

    private let cleanupCondition = NSCondition()
    private var cleanupDone = false

    /// Once the lab is interrupted, waits until the signal's teardowns have
    /// all run (at most `timeout` seconds): a command that ends on the
    /// interruption's account must not exit while they still remove what
    /// it made. (`vm run` once exited with 130 between the destroy of its
    /// domain and the removal of its state file.)
    public func waitForInterruptTeardown(timeout: Double = 30) {
        guard interrupted != nil else { return }
        let deadline = Date(timeIntervalSinceNow: timeout)
        cleanupCondition.lock()
        defer { cleanupCondition.unlock() }
        while !cleanupDone {
            if !cleanupCondition.wait(until: deadline) { return }
        }
    }

    /// When the lab is being interrupted, waits for the signal handler to
    /// finish the teardown and exit, so that the interrupted work does not
    /// carry on (or exit with its own status) meanwhile.
    public func parkIfInterrupted() {
        guard interrupted != nil else { return }
        while true { pause() }
    }

    private let holdCondition = NSCondition()
    private var holds = 0

    /// Runs `body` (the making of something that registers its own teardown,
    /// such as a container's creation) so that a signal never lands in its
    /// middle: the handler waits for it to end, and so tears down what it
    /// made. Once the lab is interrupted, a new `holding` never starts: it
    /// parks until the handler exits.
    public func holding<T>(_ body: () throws -> T) rethrows -> T {
        holdCondition.lock()
        if interrupted != nil {
            holdCondition.unlock()
            while true { pause() }
        }
        holds += 1
        holdCondition.unlock()
        defer {
            holdCondition.lock()
            holds -= 1
            holdCondition.broadcast()
            holdCondition.unlock()
        }
        return try body()
    }

    /// Waits (at most 30 s) until no `holding` body runs.
    private func waitForHolds() {
        let deadline = Date(timeIntervalSinceNow: 30)
        holdCondition.lock()
        while holds > 0 && holdCondition.wait(until: deadline) {}
        holdCondition.unlock()
    }

    /// Registers a teardown; pass the token to `unregister` once it has run.
    @discardableResult
    public func register(_ action: @escaping @Sendable () -> Void) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let token = nextToken
        nextToken += 1
        actions.append((token, action))
        return token
    }

    public func unregister(_ token: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        actions.removeAll { $0.token == token }
    }

    /// Runs every teardown, newest first, and forgets them.
    public func runAll() {
        lock.lock()
        let pending = actions.reversed()
        actions.removeAll()
        lock.unlock()
        for entry in pending { entry.action() }
    }

    /// Turns SIGINT, SIGTERM and SIGHUP into: run the teardowns, then exit.
    /// `onSignal` may replace the exit (a runner that still writes its
    /// partial results); it runs after the teardowns.
    public func installSignalHandlers(onSignal: (@Sendable (Int32) -> Void)? = nil) {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [weak self] in
                self?.handle(signalNumber, onSignal: onSignal)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// What a signal sets off (on the signal queue): mark the lab interrupted,
    /// let what is being made finish, run every teardown, then exit with
    /// 128 + the signal, or hand over to `onSignal`.
    func handle(_ signalNumber: Int32, onSignal: (@Sendable (Int32) -> Void)?) {
        lock.withLock { _interrupted = signalNumber }
        // What is being made right now is finished (and registered) first.
        waitForHolds()
        runAll()
        cleanupCondition.lock()
        cleanupDone = true
        cleanupCondition.broadcast()
        cleanupCondition.unlock()
        if let onSignal {
            onSignal(signalNumber)
        } else {
            exit(128 + signalNumber)
        }
    }
}
