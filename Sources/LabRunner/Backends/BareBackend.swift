import CLabShim
import Foundation
import LabCore
import LabModel

/// The agent (or any host program) as a plain child process: the floor
/// every other backend is compared with.
public struct BareBackend: Backend {
    public let kind = BackendKind.bare
    /// The image's own copy of the agent: the same bits as in the container and the VM.
    public var agent: String
    /// The environment of the child (the lab's own is not passed on).
    public var environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    public init(agent: String) {
        self.agent = agent
    }

    public func start(_ request: InstanceRequest) async throws -> any Instance {
        let argv: [String]
        switch request.program {
        case .agent(let arguments): argv = [agent, "run"] + arguments
        case .command(let command):
            guard let program = command.first else { throw LabError(.invalidInput, "no command given") }
            guard let path = HostCommand.which(program) else { throw LabError(.invalidInput, "command \(program) is not on the host's PATH") }
            argv = [path] + command.dropFirst()
        }
        return try BareInstance.spawn(argv, environment: environment, output: request.output, mergeStderr: request.mergeStderr)
    }
}

/// A spawned host process. Timeline: `spawn_start` (just before
/// posix_spawn), `spawned` (posix_spawn returned), then the reader's marks,
/// `exited` (reaped) and `cleaned`.
final class BareInstance: Instance, @unchecked Sendable {
    let id: String
    let kind = BackendKind.bare
    let outputFD: Int32?
    let accelerator: Accelerator? = nil
    let pid: pid_t
    private let lock = NSLock()
    private var _timeline: Timeline
    private var ended: ChildProcess.Ended?
    private var cleaned = false

    var timeline: Timeline { lock.withLock { _timeline } }

    private init(pid: pid_t, outputFD: Int32?, timeline: Timeline) {
        self.id = String(pid)
        self.pid = pid
        self.outputFD = outputFD
        self._timeline = timeline
    }

    func mark(_ phase: String, at ns: UInt64) {
        lock.withLock { _timeline.mark(phase, at: ns) }
    }

    /// stdin from /dev/null, stdout (and stderr when merged) to a pipe the
    /// lab reads, or the lab's own three descriptors for `.terminal`.
    static func spawn(_ argv: [String], environment: [String], output: InstanceRequest.Output, mergeStderr: Bool) throws -> BareInstance {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var readEnd: Int32 = -1
        var writeEnd: Int32 = -1
        if output == .capture {
            var fds: [Int32] = [-1, -1]
            guard lab_pipe2(&fds, O_CLOEXEC) == 0 else { throw LabError.syscall("pipe2") }
            (readEnd, writeEnd) = (fds[0], fds[1])
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
            if mergeStderr {
                posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
            } else {
                posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            }
        }
        let strings = argv.map { strdup($0) } + [nil]
        defer { strings.forEach { free($0) } }
        let envp = environment.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }

        var timeline = Timeline()
        var pid: pid_t = 0
        timeline.mark("spawn_start")
        let err = posix_spawn(&pid, argv[0], &actions, nil, strings, envp)
        timeline.mark("spawned")
        if writeEnd >= 0 { close(writeEnd) }
        guard err == 0 else {
            if readEnd >= 0 { close(readEnd) }
            throw LabError.syscall("posix_spawn \(argv[0])", errno: err)
        }
        return BareInstance(pid: pid, outputFD: readEnd >= 0 ? readEnd : nil, timeline: timeline)
    }

    func hostProcesses() -> [pid_t] {
        lock.withLock { ended } == nil ? [pid] : []
    }

    func waitForExit(until deadline: UInt64) async -> InstanceExit? {
        if let ended = lock.withLock({ ended }) { return InstanceExit.from(waitStatus: ended.status) }
        let pid = self.pid
        let result = await Blocking.run { ChildProcess.wait(pid, until: deadline) }
        guard let result else { return nil }
        lock.withLock {
            ended = result
            _timeline.mark("exited", at: MonotonicClock.now())
        }
        return InstanceExit.from(waitStatus: result.status)
    }

    func kill() async {
        if lock.withLock({ ended }) == nil { Glibc.kill(pid, SIGKILL) }
    }

    func finalFigures() -> BackendFigures {
        guard let ended = lock.withLock({ ended }) else { return BackendFigures() }
        return BackendFigures(cpuNs: ended.cpuNs, cpuInstrument: "rusage of the process (wait4)")
    }

    func teardown() async throws {
        let first = lock.withLock { () -> Bool in
            defer { cleaned = true }
            return !cleaned
        }
        guard first else { return }
        if lock.withLock({ ended }) == nil {
            let pid = self.pid
            let result = await Blocking.run { ChildProcess.kill(pid) }
            lock.withLock { ended = result }
        }
        if let outputFD { close(outputFD) }
        mark("cleaned", at: MonotonicClock.now())
    }
}

/// Blocking work (a wait, a pipe read) on a thread of its own rather than
/// on Swift's cooperative pool.
public enum Blocking {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }
}
