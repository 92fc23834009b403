import CLabHost
import CLabSpawn
import Foundation
import LabCore
import LabModel

/// A running container of the lab's own: a process in new PID, mount, UTS,
/// IPC, network and cgroup namespaces, placed in its cgroups before it runs
/// anything, on a read-only root with its own /proc, /dev, /tmp and /run,
/// with a reduced capability set.
///
/// Its timeline: `spawn_start` (create() called), `cloned` (clone returned),
/// `cgroup_joined` (the pid written to every cgroup), `rootfs_ready` (the
/// child reported pivot_root done), `exec` (the status pipe closed on exec),
/// `ready` (set by whoever reads the agent's READY), `exited`, `cleaned`.
public final class Container: @unchecked Sendable {
    public let spec: ContainerSpec
    public let pid: pid_t
    public let cgroups: any CgroupManager
    let runDirectory: String
    let stateFile: String

    private let lock = NSLock()
    private var _timeline: Timeline
    private var waitStatus: Int32?
    private var destroyed = false
    private var cleanupToken: UInt64 = 0
    /// A system container's notify socket (systemd's READY=1).
    private var notify: NotifySocket?

    public var timeline: Timeline { lock.withLock { _timeline } }

    public func mark(_ phase: String, at ns: UInt64 = MonotonicClock.now()) {
        lock.withLock { _timeline.mark(phase, at: ns) }
    }

    private init(spec: ContainerSpec, pid: pid_t, cgroups: any CgroupManager, runDirectory: String, stateFile: String, timeline: Timeline) {
        self.spec = spec
        self.pid = pid
        self.cgroups = cgroups
        self.runDirectory = runDirectory
        self.stateFile = stateFile
        self._timeline = timeline
    }

    /// The record gc reads to find a container whose lab process died.
    public struct State: Codable, Sendable {
        public var id: String
        /// The lab process that owns the container.
        public var ownerPID: Int32
        /// The owner's start time (/proc/PID/stat field 22): a pid alone may
        /// have been reused by the time gc reads it.
        public var ownerStartTime: UInt64?
        /// No pid: gc finds the processes in the cgroups, whatever their pids
        /// (and a second write after the clone cost every start a write).
        public var cgroups: [String]
        public var runDirectory: String
    }

    public static func stateDirectory(_ paths: LabPaths) -> String { paths.path(.containers) }

    /// Creates and starts the container; returns once its command has been
    /// exec'd. Anything that fails is torn down before the error is thrown.
    public static func create(_ spec: ContainerSpec, layout: CgroupLayout, paths: LabPaths = .fromEnvironment()) throws -> Container {
        // A signal waits for the creation to end, then tears the container down
        // by the teardown it registered: never a half-made container left behind.
        try CleanupRegistry.shared.holding { try make(spec, layout: layout, paths: paths) }
    }

    /// Not rootless: the cgroups, and for a user namespace the uid maps, need root.
    public static func requireRoot() throws {
        guard geteuid() == 0 else {
            throw LabError(.invalidInput, "containers need root (namespaces, mounts, cgroups, and with --userns the uid maps); run as root")
        }
    }

    private static func make(_ spec: ContainerSpec, layout: CgroupLayout, paths: LabPaths) throws -> Container {
        var spec = spec
        var timeline = Timeline()
        timeline.mark("spawn_start")
        try requireRoot()
        for tree in spec.imageTrees where !FileSystem.isDirectory(tree) {
            throw LabError(.notFound, "image root \(tree) does not exist; build the image with isolab image build, or import it again")
        }
        _ = try spec.resolveCommand()
        guard spec.sharedNamespaces.isSubset(of: [.pid, .uts, .ipc, .net]) else {
            throw LabError(.invalidInput, "a container may share only its pid, uts, ipc or net namespace with the host, not \(spec.sharedNamespaces.map(\.rawValue).sorted())")
        }
        // The root of a user namespace is uid 100000 on the host: it must pass
        // through the private state directory to its image and mount point.
        if spec.userNamespace && geteuid() == 0 { try paths.grantPassage(toUser: Self.userNamespaceRoot) }
        let cgroups = try layout.manager(for: spec.id, systemHierarchies: spec.system != nil)

        let runDirectory = stateDirectory(paths) + "/" + spec.id
        let mountPoint = runDirectory + "/root"
        let stateFile = stateDirectory(paths) + "/" + spec.id + ".json"
        let state = State(id: spec.id, ownerPID: getpid(), ownerStartTime: ProcessState.startTime(getpid()),
                          cgroups: cgroups.directories, runDirectory: runDirectory)
        // Undone on failure, and by the signal handler if the lab is
        // interrupted before the container is whole.
        let undo = Teardown()
        undo.append { try? FileSystem.removeTree(runDirectory) }
        undo.append { unlink(stateFile) }
        var notify: NotifySocket?
        let interruptToken = CleanupRegistry.shared.register { undo.run() }
        defer { CleanupRegistry.shared.unregister(interruptToken) }
        func rollback() { undo.run() }
        do {
            // The state file first: whatever exists of a container is named
            // by one, so that gc, and only gc of this ISOLAB_HOME, can find it.
            try paths.ensure(.containers)
            try writeState(state, to: stateFile)
            // 0755: with --userns the child is root only inside, and must still reach its mount point.
            try FileSystem.makeDirectory(runDirectory, mode: 0o755)
            try FileSystem.makeDirectory(mountPoint, mode: 0o755)
            if spec.hasOverlayRoot {
                // The instance's writable layer over the image, removed with the run directory.
                try FileSystem.makeDirectory(runDirectory + "/upper", mode: 0o755)
                try FileSystem.makeDirectory(runDirectory + "/work", mode: 0o700)
            }
            if spec.system != nil {
                // systemd's READY=1, a second finish line.
                try FileSystem.makeDirectory(runDirectory + "/host", mode: 0o755)
                let socket = try NotifySocket(path: runDirectory + "/host/notify")
                undo.append { socket.stop() }
                notify = socket
                spec.system?.hostDirectory = runDirectory + "/host"
                spec.environment.append("NOTIFY_SOCKET=" + NotifySocket.pathInside)
            }
            var limits = spec.limits
            limits.restrictDevices = spec.restrictDevices
            try cgroups.create(limits: limits)
        } catch {
            rollback()
            throw error
        }
        undo.append { try? cgroups.destroy() }

        var syncPipe: [Int32] = [-1, -1], statusPipe: [Int32] = [-1, -1]
        do { let made = try Descriptors.pipe(); syncPipe = [made.read, made.write] } catch { rollback(); throw error }
        do { let made = try Descriptors.pipe(); statusPipe = [made.read, made.write] } catch {
            close(syncPipe[0]); close(syncPipe[1]); rollback()
            throw error
        }

        // Everything the child reads, as C memory prepared before the clone.
        let strings = CStringArena()
        defer { strings.free() }
        let argv = strings.array(spec.command)
        let envp = strings.array(spec.environment)
        var rlimits = spec.rlimits.map { lab_spawn_rlimit(resource: $0.0, soft: $0.1, hard: $0.2) }
        var binds = spec.volumes.map { lab_spawn_bind(source: strings.string($0.source), target: strings.string($0.target), readonly: $0.readOnly ? 1 : 0) }
        let affinity = (spec.cpuAffinity ?? []).reduce(UInt64(0)) { $0 | (($1 >= 0 && $1 < 64) ? (1 << UInt64($1)) : 0) }
        let filter = try Seccomp.program(spec.seccomp)
        var flags = lab_clone_newns()
        for kind in [NamespaceKind.pid, .uts, .ipc, .net] where !spec.sharedNamespaces.contains(kind) { flags |= kind.cloneFlag }
        if spec.userNamespace { flags |= lab_clone_newuser() }
        // A host's UTS namespace: its hostname is not the container's to set.
        let hostname = spec.sharedNamespaces.contains(.uts) ? nil : strings.string(spec.hostname)
        let lower = spec.lowerDirectories.isEmpty ? spec.rootfs : spec.lowerDirectories.joined(separator: ":")
        let options = "lowerdir=\(lower),upperdir=\(runDirectory)/upper,workdir=\(runDirectory)/work"
        // The kernel reads a mount's options from one page.
        guard !spec.hasOverlayRoot || options.utf8.count < 4096 else {
            rollback()
            throw LabError(.invalidInput, "the image's \(spec.lowerDirectories.count) layers do not fit one overlay mount's options (\(options.utf8.count) bytes of 4095)")
        }
        let overlay = spec.hasOverlayRoot ? strings.string(options) : nil
        var mounts = ((spec.system?.mounts(mode: layout.mode) ?? []) + spec.agentMounts).map { mount in
            lab_spawn_mount(source: mount.source.map { strings.string($0) }, target: strings.string(mountPoint + mount.target),
                            fstype: mount.fstype.map { strings.string($0) }, flags: mount.flags, data: mount.data.map { strings.string($0) },
                            create: mount.create.rawValue)
        }
        let pid: pid_t = rlimits.withUnsafeMutableBufferPointer { limits in binds.withUnsafeMutableBufferPointer { volumes in mounts.withUnsafeMutableBufferPointer { extra in
            var config = lab_spawn_config(
                clone_flags: flags, cgroup_namespace: 1, rootfs: strings.string(spec.rootfs),
                mount_point: strings.string(mountPoint), hostname: hostname,
                argv: argv, envp: envp, workdir: strings.string(spec.workdir),
                stdin_fd: spec.stdin, stdout_fd: spec.stdout, stderr_fd: spec.stderr,
                control_fd: spec.controlFD, control_target: 3, capabilities: spec.capabilities,
                last_capability: Capabilities.lastCapability, rlimits: limits.baseAddress, rlimit_count: Int32(limits.count),
                user_namespace: spec.userNamespace ? 1 : 0, binds: volumes.baseAddress, bind_count: Int32(volumes.count),
                cpu_affinity: affinity, controlling_terminal: spec.controllingTerminal ? 1 : 0, seccomp_filter: nil,
                seccomp_length: UInt16((filter?.count ?? 0) / 8), mask_paths: spec.maskPaths ? 1 : 0,
                overlay_options: overlay, set_user: spec.user == nil ? 0 : 1, uid: spec.user?.uid ?? 0, gid: spec.user?.gid ?? 0,
                mounts: extra.baseAddress, mount_count: Int32(extra.count))
            return (filter ?? []).withUnsafeBytes { program in
                config.seccomp_filter = filter == nil ? nil : program.baseAddress
                return lab_spawn_container(&config, syncPipe[0], syncPipe[1], statusPipe[0], statusPipe[1])
            }
        } } }
        let cloneErrno = errno
        timeline.mark("cloned")
        close(syncPipe[0])
        close(statusPipe[1])
        guard pid > 0 else {
            close(syncPipe[1]); close(statusPipe[0]); rollback()
            throw LabError.syscall("clone the container's process", errno: cloneErrno)
        }
        undo.append { ChildProcess.kill(pid) }
        do {
            if spec.userNamespace { try writeIDMaps(pid) }
            try cgroups.addProcess(pid)
            timeline.mark("cgroup_joined")
        } catch {
            close(syncPipe[1]); close(statusPipe[0]); rollback()
            throw error
        }
        var one: UInt8 = 1
        _ = write(syncPipe[1], &one, 1)
        close(syncPipe[1])

        // Progress and errors from the child until the pipe closes on exec.
        var failure: lab_spawn_status?
        while true {
            var status = lab_spawn_status()
            let n = read(statusPipe[0], &status, MemoryLayout<lab_spawn_status>.size)
            if n < 0 && errno == EINTR { continue }
            if n != MemoryLayout<lab_spawn_status>.size { break }
            if status.step == Int32(LAB_STEP_ROOTFS_READY.rawValue) {
                timeline.mark("rootfs_ready")
            } else {
                failure = status
            }
        }
        close(statusPipe[0])
        if let failure {
            rollback()
            throw LabError(.failed, "container \(spec.id): \(stepName(failure.step)): \(Errno.describe(failure.error))")
        }
        timeline.mark("exec")
        let container = Container(spec: spec, pid: pid, cgroups: cgroups, runDirectory: runDirectory, stateFile: stateFile, timeline: timeline)
        if let notify {
            container.notify = notify
            notify.watch { [weak container] at in container?.mark("systemd_ready", at: at) }
        }
        container.cleanupToken = CleanupRegistry.shared.register { [weak container] in try? container?.destroy() }
        return container
    }

    /// Waits until the container's PID 1 exits, or the deadline (monotonic
    /// ns); returns the wait status, nil if it still runs at the deadline.
    public func wait(until deadline: UInt64) -> Int32? {
        if let status = lock.withLock({ waitStatus }) { return status }
        guard let ended = ChildProcess.wait(pid, until: deadline) else { return nil }
        return lock.withLock {
            if waitStatus == nil, ended.status != -1 { waitStatus = ended.status }
            _timeline.mark("exited", at: MonotonicClock.now())
            return waitStatus ?? ended.status
        }
    }

    /// Waits for PID 1's exit without a deadline: for `isolab container run`
    /// in a terminal, where the user ends it (Ctrl-C tears it down).
    @discardableResult
    public func wait() -> Int32 {
        wait(until: .max) ?? -1
    }

    /// What the lab made on disk for this container: its run directory and state file.
    public var ownPaths: [String] { [runDirectory, stateFile] }

    public func freeze() throws { try cgroups.freeze() }
    public func thaw() throws { try cgroups.thaw() }
    public func stats() -> CgroupStats { cgroups.stats() }

    /// SIGKILL to every process of the container.
    public func kill() throws { try cgroups.killAll() }

    /// How the container ended, in words: `exited with 0`, `killed by the
    /// memory limit (64 MiB)`, `killed by SIGKILL`.
    public func describeExit(_ status: Int32) -> (text: String, exitCode: Int32) {
        let signaled = status & 0x7F
        if signaled == 0 {
            let code = (status >> 8) & 0xFF
            return ("exited with \(code)", code)
        }
        if signaled == SIGKILL, let kills = stats().oomKills, kills > 0, let limit = spec.limits.memoryBytes {
            return ("killed by the memory limit (\(ByteSize.format(limit)))", 128 + SIGKILL)
        }
        return ("killed by signal \(signaled) (\(String(cString: strsignal(signaled))))", 128 + signaled)
    }

    /// Kills whatever is left, reaps, removes the cgroups, the run directory
    /// and the state file. Safe to call twice; always leaves nothing behind
    /// unless it throws, and then gc can finish the work.
    public func destroy() throws {
        let alreadyDone = lock.withLock { () -> Bool in
            defer { destroyed = true }
            return destroyed
        }
        if alreadyDone { return }
        CleanupRegistry.shared.unregister(cleanupToken)
        notify?.stop()
        if lock.withLock({ waitStatus }) == nil {
            try? cgroups.killAll()
            Glibc.kill(pid, SIGKILL)
            _ = wait(until: MonotonicClock.now() + 10_000_000_000)
        }
        if !cgroups.processes().isEmpty { try? cgroups.killAll() }
        try cgroups.destroy()
        try FileSystem.removeTree(runDirectory)
        unlink(stateFile)
        mark("cleaned")
    }

    /// Not fsynced: it sits on the start path, and a state file lost in a
    /// crash only means gc finds the cgroup by its name instead.
    static func writeState(_ state: State, to path: String) throws {
        try FileSystem.writeAtomically(path, bytes: Array(try JSONEncoder().encode(state)), durable: false)
    }

    /// Root of a user namespace, as the host sees it (when the lab is root).
    public static let userNamespaceRoot: uid_t = 100_000

    /// Root inside is uid/gid 100000 on the host; 65536 ids.
    static func writeIDMaps(_ pid: pid_t) throws {
        if geteuid() != 0 {
            try FileSystem.writeControl("/proc/\(pid)/setgroups", "deny")
            try FileSystem.writeControl("/proc/\(pid)/uid_map", "0 \(geteuid()) 1")
            try FileSystem.writeControl("/proc/\(pid)/gid_map", "0 \(getegid()) 1")
        } else {
            try FileSystem.writeControl("/proc/\(pid)/uid_map", "0 \(userNamespaceRoot) 65536")
            try FileSystem.writeControl("/proc/\(pid)/gid_map", "0 \(userNamespaceRoot) 65536")
        }
    }

    static func stepName(_ step: Int32) -> String {
        let names: [UInt32: String] = [
            LAB_STEP_SIGNALS.rawValue: "reset signals", LAB_STEP_SYNC_WAIT.rawValue: "wait for the cgroup placement",
            LAB_STEP_SETGROUPS.rawValue: "setgroups", LAB_STEP_IDS.rawValue: "become root in the user namespace",
            LAB_STEP_CGROUP_NAMESPACE.rawValue: "unshare the cgroup namespace",
            LAB_STEP_MOUNT_PRIVATE.rawValue: "make / private", LAB_STEP_BIND_ROOTFS.rawValue: "bind the image's rootfs",
            LAB_STEP_MOUNT_PROC.rawValue: "mount proc on /proc", LAB_STEP_MOUNT_SYS.rawValue: "mount sysfs on /sys",
            LAB_STEP_MOUNT_DEV.rawValue: "mount tmpfs on /dev", LAB_STEP_MOUNT_DEVICES.rawValue: "bind devices into /dev",
            LAB_STEP_MOUNT_DEVPTS.rawValue: "mount devpts on /dev/pts", LAB_STEP_MOUNT_SHM.rawValue: "mount tmpfs on /dev/shm",
            LAB_STEP_MOUNT_MQUEUE.rawValue: "mount mqueue on /dev/mqueue",
            LAB_STEP_MOUNT_TMP.rawValue: "mount tmpfs on /tmp", LAB_STEP_MOUNT_RUN.rawValue: "mount tmpfs on /run",
            LAB_STEP_MOUNT_VOLUME.rawValue: "bind a volume", LAB_STEP_AFFINITY.rawValue: "set the CPU affinity",
            LAB_STEP_REMOUNT_READONLY.rawValue: "remount the root read-only",
            LAB_STEP_MOUNT_OVERLAY.rawValue: "mount the overlay root", LAB_STEP_USER.rawValue: "become the image's user", LAB_STEP_MOUNT_EXTRA.rawValue: "mount the system container's cgroup tree, console or /run/host", LAB_STEP_PIVOT_ROOT.rawValue: "pivot_root",
            LAB_STEP_HOSTNAME.rawValue: "sethostname", LAB_STEP_LOOPBACK.rawValue: "bring lo up",
            LAB_STEP_RLIMITS.rawValue: "setrlimit", LAB_STEP_STDIO.rawValue: "set up stdio",
            LAB_STEP_WORKDIR.rawValue: "chdir to the working directory",
            LAB_STEP_CAPABILITIES_BOUNDING.rawValue: "drop from the capability bounding set",
            LAB_STEP_CAPABILITIES.rawValue: "set capabilities", LAB_STEP_NO_NEW_PRIVS.rawValue: "set no_new_privs",
            LAB_STEP_CLOSE_FDS.rawValue: "close descriptors", LAB_STEP_EXEC.rawValue: "exec the command",
            LAB_STEP_MASK_PATHS.rawValue: "mask /proc and /sys paths", LAB_STEP_READONLY_PATHS.rawValue: "make /proc paths read-only",
            LAB_STEP_SETSID.rawValue: "start a session", LAB_STEP_CONTROLLING_TERMINAL.rawValue: "take the pty as controlling terminal",
            LAB_STEP_SECCOMP.rawValue: "load the seccomp filter",
        ]
        return names[UInt32(bitPattern: step)] ?? "step \(step)"
    }
}

/// Undo actions run once, newest first, from whichever thread gets there first.
final class Teardown: @unchecked Sendable {
    private let lock = NSLock()
    private var actions: [() -> Void] = []
    private var done = false

    func append(_ action: @escaping () -> Void) {
        lock.withLock { actions.append(action) }
    }

    func run() {
        let pending = lock.withLock { () -> [() -> Void] in
            defer { actions.removeAll(); done = true }
            return done ? [] : actions.reversed()
        }
        pending.forEach { $0() }
    }
}

/// C strings that live until `free()`: the child reads them after the clone.
final class CStringArena {
    private var pointers: [UnsafeMutablePointer<CChar>] = []
    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    func string(_ text: String) -> UnsafePointer<CChar> {
        let pointer = strdup(text)!
        pointers.append(pointer)
        return UnsafePointer(pointer)
    }

    /// A NULL-terminated array of C strings.
    func array(_ texts: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: texts.count + 1)
        for (index, text) in texts.enumerated() { array[index] = string(text) }
        array[texts.count] = nil
        arrays.append(array)
        return UnsafePointer(array)
    }

    func free() {
        pointers.forEach { Glibc.free($0) }
        arrays.forEach { $0.deallocate() }
        pointers.removeAll()
        arrays.removeAll()
    }
}
