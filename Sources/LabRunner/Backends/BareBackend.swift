import LabWire
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
    /// CPUs the process runs on (nil: the lab's), to give it the same
    /// budget as a pinned container or guest.
    public var cpuAffinity: [Int]?
    /// Where volumes are made (a fresh directory per instance).
    public var paths: LabPaths = .fromEnvironment()

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
        guard let volume = request.volume else {
            return try BareInstance.spawn(argv, environment: environment, output: request.output, mergeStderr: request.mergeStderr,
                                          stdin: request.stdin, affinity: cpuAffinity, volumeDirectory: nil)
        }
        // No mount namespace: the volume is a fresh host directory, named by
        // its host path wherever the arguments name the volume's path.
        let directory = try Volume.makeDirectory(paths: paths)
        do {
            let mapped = argv.map { $0 == volume.path ? directory : $0 }
            return try BareInstance.spawn(mapped, environment: environment, output: request.output, mergeStderr: request.mergeStderr,
                                          stdin: request.stdin, affinity: cpuAffinity, volumeDirectory: directory)
        } catch {
            try? FileSystem.removeTree(directory)
            throw error
        }
    }
}

/// A spawned host process. Timeline: `spawn_start` (just before
/// posix_spawn), `spawned` (posix_spawn returned), then the reader's marks,
/// `exited` (reaped) and `cleaned`.
final class BareInstance: Instance, @unchecked Sendable {
    let id: String
    /// `bare`, or the peer whose launcher this process is.
    var kind = BackendKind.bare
    /// The instance's other host processes beyond the spawned one and its
    /// descendants (a peer's daemonized helpers: podman's conmon).
    var relatedProcesses: (@Sendable () -> [pid_t])?
    /// Undoes what a peer's launcher leaves (its state, bundle, cgroups), at teardown.
    var cleanup: (@Sendable () -> Void)?
    /// Where the image's files are, for the disk figure (default: the executable).
    var imagePaths: [String]?
    /// What was made for this instance alone (a peer's bundle).
    var instancePaths: [String] = []
    var acceleratorOverride: Accelerator?
    let outputFD: Int32?
    var accelerator: Accelerator? { acceleratorOverride }
    let pid: pid_t
    let executable: String
    private let lock = NSLock()
    private var _timeline: Timeline
    private var ended: ChildProcess.Ended?
    private var cleaned = false
    /// The instance's volume, removed at teardown.
    var volumeDirectory: String?

    var timeline: Timeline { lock.withLock { _timeline } }

    private init(pid: pid_t, executable: String, outputFD: Int32?, timeline: Timeline) {
        self.id = String(pid)
        self.pid = pid
        self.executable = executable
        self.outputFD = outputFD
        self._timeline = timeline
    }

    func mark(_ phase: String, at ns: UInt64) {
        lock.withLock { _timeline.mark(phase, at: ns) }
    }

    /// stdin from /dev/null, stdout (and stderr when merged) to a pipe the
    /// lab reads, or the lab's own three descriptors for `.terminal`.
    static func spawn(_ argv: [String], environment: [String], output: InstanceRequest.Output, mergeStderr: Bool,
                      stdin: Int32? = nil, affinity: [Int]? = nil, volumeDirectory: String? = nil) throws -> BareInstance {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var readEnd: Int32 = -1
        var writeEnd: Int32 = -1
        if output == .capture {
            (readEnd, writeEnd) = try Descriptors.pipe()
            if let stdin {
                posix_spawn_file_actions_adddup2(&actions, stdin, 0)
            } else {
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            }
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

        // The child inherits the spawning thread's affinity: set it for the
        // spawn alone (no suspension point in between), then restore it.
        var saved: UInt64 = 0
        var restore = false
        if let affinity, !affinity.isEmpty {
            do {
                saved = try ThreadAffinity.current()
                try ThreadAffinity.set(ThreadAffinity.mask(affinity))
            } catch {
                if readEnd >= 0 { close(readEnd); close(writeEnd) }
                throw LabError(.systemCall, "set the CPU affinity to \(affinity): \(error)")
            }
            restore = true
        }
        var timeline = Timeline()
        var pid: pid_t = 0
        timeline.mark("spawn_start")
        let err = posix_spawn(&pid, argv[0], &actions, nil, strings, envp)
        timeline.mark("spawned")
        if restore { try? ThreadAffinity.set(saved) }
        if writeEnd >= 0 { close(writeEnd) }
        guard err == 0 else {
            if readEnd >= 0 { close(readEnd) }
            throw LabError.syscall("posix_spawn \(argv[0])", errno: err)
        }
        let instance = BareInstance(pid: pid, executable: argv[0], outputFD: readEnd >= 0 ? readEnd : nil, timeline: timeline)
        instance.volumeDirectory = volumeDirectory
        return instance
    }

    func hostProcesses() -> [pid_t] {
        var pids = lock.withLock { ended } == nil ? [pid] : []
        // A launcher's own children (runc init and the agent; QEMU's helpers).
        if kind != .bare, !pids.isEmpty { pids += ProcessTree.descendants(of: pid) }
        if let related = relatedProcesses?() {
            for other in related where !pids.contains(other) { pids += [other] + ProcessTree.descendants(of: other).filter { !pids.contains($0) } }
        }
        return pids
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
        guard lock.withLock({ ended }) == nil else { return }
        // A peer's container outlives its launcher unless it is killed too.
        if kind != .bare { for other in hostProcesses() where other != pid { Glibc.kill(other, SIGKILL) } }
        Glibc.kill(pid, SIGKILL)
    }

    /// The program's own file; a process makes nothing on disk but its volume.
    func diskPaths() -> (image: [String], instance: [String]) {
        (image: imagePaths ?? [executable], instance: instancePaths + (volumeDirectory.map { [$0] } ?? []))
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
        if let volumeDirectory { try FileSystem.removeTree(volumeDirectory) }
        if let cleanup { await Blocking.run { cleanup() } }
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

/// A volume: the instance's own storage on the host's disk, at `path`
/// inside it (`/data`): a host directory for bare and containers, a disk
/// image for a guest.
public enum Volume {
    public static let path = "/data"

    public static func directory(_ paths: LabPaths) -> String { paths.path(.volumes) }

    /// A fresh, empty directory under `ISOLAB_HOME/run/volumes`.
    static func makeDirectory(paths: LabPaths) throws -> String {
        let path = try paths.ensure(.volumes) + "/" + InstanceID.next()
        try FileSystem.makeDirectory(path, mode: 0o755)
        return path
    }
}
