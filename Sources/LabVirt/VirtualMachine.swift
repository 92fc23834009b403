import Foundation
import LabWire
import LabCore
import LabModel
import Logging

/// What a VM trial is booted with.
public struct VMSpec: Sendable {
    /// 12 hex digits; the domain is `isolab-<id>`.
    public var id: String
    public var kernel: GuestKernel
    public var initramfs: String
    /// The agent's arguments after `run` (`["noop"]`), passed as `isolab.run=`.
    public var workload: [String]
    public var memoryMiB: Int = 256
    public var vcpus: Int = 1
    public var machine: DomainDefinition.Machine = .pc
    public var accelerator: Accelerator = .tcg
    /// Seconds from the define to the guest's exit before the lab gives up.
    public var bootTimeout: Double = 120
    public var consoleLimit = 1 << 20
    public var paths: LabPaths = .fromEnvironment()
    /// Host CPUs for the vCPUs and QEMU's threads (nil: anywhere).
    public var cpuset: [Int]?
    /// TCG's translation-buffer size, MiB (nil: QEMU's default).
    public var tbCacheMiB: Int?
    /// A volume: a raw ext4 disk image of this size, made in the guest's own
    /// directory, attached as `vda` and mounted at `/data` by the agent
    /// (which first loads `modules`, paths inside the initramfs).
    public var volumeBytes: UInt64?
    public var modules: [String] = []
    /// A whole-OS guest: the image's disk (qcow2), booted as `vda` through a
    /// per-instance overlay with the image's own kernel and initrd (in
    /// `kernel` and `initramfs`); systemd is its init, the agent a service.
    public var osDisk: String?
    /// An OCI image's disk (qcow2, `images/<digest>/disk.qcow2`): booted
    /// through an overlay of the guest's own with the lab's kernel and its
    /// agent initramfs, which makes it the root before READY.
    public var imageDisk: String?
    /// A program to run in the image instead of workloads (`vm run -- CMD`).
    public var exec: KernelCommandLine.Settings.Exec?

    public init(id: String = InstanceID.next(), kernel: GuestKernel, initramfs: String, workload: [String]) {
        self.id = id
        self.kernel = kernel
        self.initramfs = initramfs
        self.workload = workload
    }


    public var domainName: String { "isolab-" + id }

    /// `console=ttyS0 quiet panic=-1 isolab.run=<percent-encoded arguments>`,
    /// and, with a volume, the modules to load and the disk to mount.
    public var commandLine: String {
        if osDisk != nil {
            // The initramfs mounts vda read-write; no getty on the console the lab reads.
            return "root=/dev/vda rw console=ttyS0 quiet panic=-1 systemd.getty_auto=0 " + KernelCommandLine.render(.init(run: workload))
        }
        var settings = KernelCommandLine.Settings(run: workload)
        settings.exec = exec
        if imageDisk != nil {
            settings.modules = modules
            settings.root = "/dev/vda"
        }
        if volumeBytes != nil {
            settings.modules = modules
            settings.volumes = [.init(device: "/dev/vda", directory: VMSpec.volumePath)]
        }
        return "console=ttyS0 quiet panic=-1 " + KernelCommandLine.render(settings)
    }

    /// Where the agent mounts a guest's volume: the same path as in a container.
    public static let volumePath = "/data"
}

/// One guest booted through libvirt: a transient domain whose first serial
/// port is the lab's console socket. `start` returns once QEMU runs and has
/// connected to the console; the caller reads `consoleFD`, waits for the
/// stop and always calls `teardown`, which leaves no domain, socket or file.
///
/// Timeline: `define_start` (start called), `define_call` (the lab's own
/// preparation done: state file, console socket, XML), `domain_started`
/// (virDomainCreateXML returned), then the reader's `first_console_byte`
/// and `ready`, `exited` (the stopped event) and `cleaned`.
public final class VirtualMachine: @unchecked Sendable {
    public let spec: VMSpec
    public let connection: LibvirtConnection
    /// libvirt's QEMU process for the domain, when found.
    public let qemuPID: Int32?
    /// The guest's console connection (the lab reads it; close-on-exec).
    public let consoleFD: Int32
    let directory: String
    let stateFile: String
    private let console: ConsoleSocket
    private let events: AsyncStream<LifecycleEvent>
    private let lock = NSLock()
    private var _timeline: Timeline
    private var tornDown = false

    public var domain: String { spec.domainName }
    public var timeline: Timeline { lock.withLock { _timeline } }

    public func mark(_ phase: String, at ns: UInt64 = MonotonicClock.now()) {
        lock.withLock { _timeline.mark(phase, at: ns) }
    }

    private init(spec: VMSpec, connection: LibvirtConnection, qemuPID: Int32?, consoleFD: Int32, directory: String, stateFile: String,
                 console: ConsoleSocket, events: AsyncStream<LifecycleEvent>, timeline: Timeline) {
        self.spec = spec
        self.connection = connection
        self.qemuPID = qemuPID
        self.consoleFD = consoleFD
        self.directory = directory
        self.stateFile = stateFile
        self.console = console
        self.events = events
        self._timeline = timeline
    }

    public static func stateDirectory(_ paths: LabPaths) -> String { paths.path(.vms) }

    /// What gc reads: which lab process owns which domain.
    public struct State: Codable, Sendable {
        public var id: String
        public var domain: String
        public var ownerPID: Int32
        /// The owner's start time (clock ticks after boot, /proc/PID/stat field 22):
        /// a pid alone may have been reused by the time gc reads it.
        public var ownerStartTime: UInt64?
        public var directory: String
    }

    /// Defines and starts the domain, and takes QEMU's console connection.
    /// On any failure everything made so far is removed before the error
    /// is thrown. `deadline` bounds the wait for QEMU's connection.
    public static func start(_ spec: VMSpec, connection: LibvirtConnection, deadline: UInt64) async throws -> VirtualMachine {
        var timeline = Timeline()
        // With a volume, the clock starts once its disk is made (as a
        // container's volume directory is made before its start).
        // A whole-OS guest's overlay is part of its start, as a system container's upper layer is.
        if spec.volumeBytes == nil { timeline.mark("define_start") }
        guard FileSystem.exists(spec.kernel.path) else {
            throw LabError(.notFound, "guest kernel \(spec.kernel.path) not found; run scripts/setup-host")
        }
        guard FileSystem.exists(spec.initramfs) else {
            throw LabError(.notFound, "initramfs \(spec.initramfs) not found; build the image with isolab image build")
        }
        let directory = stateDirectory(spec.paths) + "/" + spec.id
        let stateFile = stateDirectory(spec.paths) + "/" + spec.id + ".json"
        let domain = spec.domainName
        @Sendable func removeEverything() async {
            _ = try? await connection.destroy(name: domain)
            try? FileSystem.removeTree(directory)
            unlink(stateFile)
        }
        // A signal before start returns: the same removal, synchronously.
        let interruptToken = CleanupRegistry.shared.register { Self.blocking { await removeEverything() } }
        defer { CleanupRegistry.shared.unregister(interruptToken) }

        let console: ConsoleSocket
        do {
            // The guest's own directory: only QEMU's user (and root) may enter it.
            try spec.paths.ensure(.vms)
            try FileSystem.makeDirectory(directory, mode: 0o700)
            if let qemu = QEMUUser.lookup() {
                guard chown(directory, qemu.uid, qemu.gid) == 0 else { throw LabError.syscall("chown \(directory) to \(qemu.name)") }
            }
            let state = State(id: spec.id, domain: domain, ownerPID: getpid(), ownerStartTime: ProcessState.startTime(getpid()), directory: directory)
            try FileSystem.writeAtomically(stateFile, bytes: Array(try JSONEncoder().encode(state)), durable: false)
            if let bytes = spec.volumeBytes {
                try VolumeDisk.make(directory + "/" + VolumeDisk.fileName, bytes: bytes)
                timeline.mark("define_start")
            }
            if let base = spec.osDisk ?? spec.imageDisk {
                try OverlayDisk.make(directory + "/" + OverlayDisk.fileName, backing: base)
            }
            console = try ConsoleSocket(path: directory + "/console.sock")
        } catch {
            await removeEverything()
            throw error
        }
        let definition = DomainDefinition(
            name: domain, accelerator: spec.accelerator, memoryMiB: spec.memoryMiB, vcpus: spec.vcpus, machine: spec.machine,
            kernel: spec.kernel.path, initramfs: spec.initramfs, commandLine: spec.commandLine, consoleSocket: console.path,
            cpuset: spec.cpuset,
            disk: (spec.osDisk ?? spec.imageDisk) != nil ? directory + "/" + OverlayDisk.fileName : spec.volumeBytes == nil ? nil : directory + "/" + VolumeDisk.fileName,
            tbCacheMiB: spec.tbCacheMiB, diskBacking: spec.osDisk ?? spec.imageDisk)
        // Subscribed before the start, so that no stop event can be missed.
        let events = connection.lifecycleEvents()
        let xml = definition.xml
        timeline.mark("define_call")
        do {
            _ = try await connection.createTransient(xml: xml)
        } catch {
            console.close()
            await removeEverything()
            throw error
        }
        timeline.mark("domain_started")
        let pid = qemuPID(domain: domain)
        let fd: Int32
        do {
            fd = try console.accept(deadline: deadline, expectedPID: pid, expectedUID: pid == nil ? QEMUUser.lookup()?.uid : nil)
        } catch {
            console.close()
            await removeEverything()
            throw LabError(.timeout, "guest \(domain): QEMU did not connect to the console before the deadline (--boot-timeout)")
        }
        return VirtualMachine(spec: spec, connection: connection, qemuPID: pid, consoleFD: fd, directory: directory,
                              stateFile: stateFile, console: console, events: events, timeline: timeline)
    }

    /// The instant the domain stopped (its lifecycle event), or nil at the deadline.
    public func waitForStop(until deadline: UInt64) async -> UInt64? {
        let stopped = await StoppedWatcher(domain: domain, events: events).wait(until: deadline, connection: connection)
        if let stopped { mark("exited", at: stopped) }
        return stopped
    }

    /// What the lab made on disk for this guest: its directory and state file.
    public var ownPaths: [String] { [directory, stateFile] }

    /// Powers the guest off at once (virDomainDestroy).
    public func destroy() async {
        _ = try? await connection.destroy(name: domain)
    }

    /// Destroys the domain if it still runs, closes the console and removes
    /// the socket, the directory and the state file. Safe to call twice.
    public func teardown() async {
        let first = lock.withLock { () -> Bool in
            defer { tornDown = true }
            return !tornDown
        }
        guard first else { return }
        _ = try? await connection.destroy(name: domain)
        console.close()
        close(consoleFD)
        try? FileSystem.removeTree(directory)
        unlink(stateFile)
        mark("cleaned")
    }

    /// QEMU and every process it started (helpers, if any): the host
    /// processes that make up the guest.
    public func hostProcesses() -> [pid_t] {
        guard let qemuPID, ProcessState.isAlive(qemuPID) else { return [] }
        return [qemuPID] + ProcessTree.descendants(of: qemuPID)
    }

    /// Runs async work to its end from a synchronous context (a signal
    /// handler's teardown), for at most 10 s.
    static func blocking(_ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await body()
            done.signal()
        }
        _ = done.wait(timeout: .now() + 10)
    }

    /// libvirt's own record of the QEMU process (`/run/libvirt/qemu/<name>.pid`),
    /// checked against the process's command line.
    static func qemuPID(domain: String) -> Int32? {
        for _ in 0..<50 {
            if let text = FileSystem.readTextIfPresent("/run/libvirt/qemu/\(domain).pid"), let pid = Int32(text.trimmingWhitespace()),
               let cmdline = FileSystem.readTextIfPresent("/proc/\(pid)/cmdline"), cmdline.contains("guest=\(domain)") {
                return pid
            }
            usleep(2000)
        }
        return nil
    }
}

/// Waits for the domain's stopped (or crashed) lifecycle event.
struct StoppedWatcher {
    let domain: String
    let events: AsyncStream<LifecycleEvent>

    /// The instant of the event, or nil at the deadline. The console closing
    /// first is normal (QEMU exits, then libvirt reports); a domain already
    /// gone when the console ends is taken as stopped then.
    func wait(until deadline: UInt64, connection: LibvirtConnection) async -> UInt64? {
        let domain = self.domain
        let events = self.events
        return await withTaskGroup(of: UInt64?.self) { group in
            group.addTask {
                for await event in events where event.domain == domain {
                    if event.kind == .stopped || event.kind == .crashed { return event.receivedAt }
                }
                return nil
            }
            group.addTask {
                // A safety net if an event is lost: poll libvirt now and then.
                while MonotonicClock.now() < deadline {
                    try? await Task.sleep(nanoseconds: 200_000_000)
                    if (try? await connection.isActive(name: domain)) == false {
                        try? await Task.sleep(nanoseconds: 50_000_000)
                        return MonotonicClock.now()
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

