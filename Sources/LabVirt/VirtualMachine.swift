import Foundation
import LabAgentCore
import LabCore
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

    public init(id: String = VMSpec.newID(), kernel: GuestKernel, initramfs: String, workload: [String]) {
        self.id = id
        self.kernel = kernel
        self.initramfs = initramfs
        self.workload = workload
    }

    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() & 0xFFFF_FFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 12 - hex.count) + hex
    }

    public var domainName: String { "isolab-" + id }

    /// `console=ttyS0 quiet panic=-1 isolab.run=<percent-encoded arguments>`.
    public var commandLine: String {
        "console=ttyS0 quiet panic=-1 isolab.run=" + PercentEncoding.encodeField(workload.joined(separator: " "))
    }
}

/// The QEMU process's cost: the VM side of "containers are lighter".
public struct VMResources: Codable, Sendable, Equatable {
    public var qemuPID: Int32?
    /// VmHWM of the QEMU process, last sampled before it exited.
    public var peakRSSKiB: Int?
    /// Proportional set size (`/proc/<pid>/smaps_rollup`) at READY and at the last sample.
    public var pssAtReadyKiB: Int?
    public var pssAtEndKiB: Int?
    /// User + system CPU time of the QEMU process, last sampled before it exited.
    public var cpuNs: UInt64?
}

/// One boot of the guest: the timeline, the console, what the agent said.
public struct VMRun: Sendable {
    public var id: String
    public var domain: String
    public var accelerator: Accelerator
    /// `define_start`, `define_call` (the lab's own preparation done: state
    /// file, console socket, XML), `domain_started` (virDomainCreateXML returned),
    /// `first_console_byte`, `ready` (the READY line), `exited` (the stopped
    /// event), `cleaned` (domain, socket and files gone).
    public var timeline: Timeline
    public var console: String
    public var lines: [AgentLine]
    /// The guest's own uptime when it wrote READY: kernel + init, as the guest saw it.
    public var guestUptimeAtReadyNs: UInt64?
    public var resources: VMResources

    public var ready: [String: String]? {
        for line in lines { if case .ready(let fields) = line { return fields } }
        return nil
    }

    public var doneStatus: Int32? {
        for line in lines { if case .done(let status) = line { return status } }
        return nil
    }

    /// The last lines of the console, for errors.
    public func consoleTail(_ count: Int = 5) -> String {
        console.split(whereSeparator: \.isNewline).suffix(count).joined(separator: " | ")
    }
}

/// Boots guests through libvirt, one transient domain per run, and always
/// removes the domain, its console socket and its files.
public struct VirtualMachines: Sendable {
    public var connection: LibvirtConnection

    public init(connection: LibvirtConnection) {
        self.connection = connection
    }

    public static func stateDirectory(_ paths: LabPaths) -> String { paths.run + "/vms" }

    /// What gc reads: which lab process owns which domain.
    public struct State: Codable, Sendable {
        public var id: String
        public var domain: String
        public var ownerPID: Int32
        public var directory: String
    }

    /// Boots `spec`, runs the agent's workload, waits for the guest to power
    /// off. `onBytes` sees the console as it arrives.
    public func run(_ spec: VMSpec, onBytes: @escaping @Sendable ([UInt8]) -> Void = { _ in }) async throws -> VMRun {
        var timeline = Timeline()
        timeline.mark("define_start")
        guard FileSystem.exists(spec.kernel.path) else {
            throw LabError(.notFound, "guest kernel \(spec.kernel.path) not found; run scripts/setup-host")
        }
        guard FileSystem.exists(spec.initramfs) else {
            throw LabError(.notFound, "initramfs \(spec.initramfs) not found; build the image with isolab image build")
        }
        let deadline = MonotonicClock.now() + UInt64(spec.bootTimeout * 1e9)
        let directory = Self.stateDirectory(spec.paths) + "/" + spec.id
        let stateFile = Self.stateDirectory(spec.paths) + "/" + spec.id + ".json"
        try FileSystem.createDirectory(directory, mode: 0o755)
        chmod(directory, 0o755)
        let connection = self.connection
        let domain = spec.domainName
        let teardown: @Sendable () async -> Void = {
            _ = try? await connection.destroy(name: domain)
            try? FileSystem.removeTree(directory)
            unlink(stateFile)
        }
        // Signals: a synchronous teardown (the handler exits right after it).
        let interruptToken = CleanupRegistry.shared.register {
            let done = DispatchSemaphore(value: 0)
            Task { await teardown(); done.signal() }
            _ = done.wait(timeout: .now() + 10)
        }
        defer { CleanupRegistry.shared.unregister(interruptToken) }

        let console: ConsoleSocket
        do {
            try FileSystem.writeAtomically(
                stateFile, bytes: Array(try JSONEncoder().encode(State(id: spec.id, domain: domain, ownerPID: getpid(), directory: directory))),
                durable: false)
            console = try ConsoleSocket(path: directory + "/console.sock")
        } catch {
            await teardown()
            throw error
        }
        let definition = DomainDefinition(
            name: domain, accelerator: spec.accelerator, memoryMiB: spec.memoryMiB, vcpus: spec.vcpus, machine: spec.machine,
            kernel: spec.kernel.path, initramfs: spec.initramfs, commandLine: spec.commandLine, consoleSocket: console.path)
        let events = connection.lifecycleEvents()
        let xml = definition.xml
        timeline.mark("define_call")
        do {
            _ = try await connection.createTransient(xml: xml)
        } catch {
            console.close()
            await teardown()
            throw error
        }
        timeline.mark("domain_started")
        let pid = Self.qemuPID(domain: domain)

        // The console, read on a thread of its own until the guest's end.
        let reader = ConsoleReader(limit: spec.consoleLimit)
        let stopped = StoppedWatcher(domain: domain, events: events)
        let sampler = ResourceSampler(pid: pid)
        sampler.start()
        do {
            let fd = try console.accept(deadline: deadline)
            await reader.read(fd: fd, deadline: deadline, onBytes: onBytes) { sampler.markReady() }
        } catch {
            // Fall through: the timeout below reports it with the console's tail.
        }
        let exitedAt = await stopped.wait(until: deadline, connection: connection)
        sampler.stop()
        console.close()
        var collector = reader.result
        if let first = collector.firstByte { timeline.mark("first_console_byte", at: first) }
        if let ready = collector.markerSeen { timeline.mark("ready", at: ready) }
        let consoleText = collector.text
        collector.bytes = []
        guard let exitedAt else {
            await teardown()
            let tail = consoleText.split(whereSeparator: \.isNewline).suffix(5).joined(separator: " | ")
            throw LabError(.timeout, "guest \(domain) did not finish within \(Int(spec.bootTimeout)) s (--boot-timeout); last console lines: \(tail.isEmpty ? "(none)" : tail)")
        }
        timeline.mark("exited", at: exitedAt)
        await teardown()
        timeline.mark("cleaned")

        let lines = AgentLine.parseAll(consoleText)
        var run = VMRun(id: spec.id, domain: domain, accelerator: spec.accelerator, timeline: timeline, console: consoleText,
                        lines: lines, guestUptimeAtReadyNs: nil, resources: sampler.resources)
        run.guestUptimeAtReadyNs = run.ready?["uptime_ns"].flatMap { UInt64($0) }
        if let version = run.ready?["version"], version != String(AgentProtocol.version) {
            throw LabError(.failed, "the guest's agent speaks protocol \(version), this lab \(AgentProtocol.version); rebuild the image")
        }
        return run
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

    /// Destroys every `isolab-*` domain whose owning lab process is gone
    /// (or that has no state file), and their files.
    public func collectGarbage(paths: LabPaths, dryRun: Bool = false) async throws -> [String] {
        var removed: [String] = []
        let directory = Self.stateDirectory(paths)
        var live = Set<String>()
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            guard let bytes = try? FileSystem.readBytes(directory + "/" + name),
                  let state = try? JSONDecoder().decode(State.self, from: Data(bytes)) else { continue }
            if ProcessState.isAlive(state.ownerPID) { live.insert(state.domain); continue }
            if !dryRun {
                try? FileSystem.removeTree(state.directory)
                unlink(directory + "/" + name)
            }
            removed.append("VM files of \(state.domain) (owner pid \(state.ownerPID) is gone)")
        }
        let names = try await connection.domainNames()
        Logger(label: "isolab.gc").debug("libvirt domains", metadata: ["names": "\(names)", "live": "\(live.sorted())"])
        for domain in names where domain.hasPrefix("isolab-") && !live.contains(domain) {
            if !dryRun { try await connection.destroy(name: domain) }
            removed.append("libvirt domain \(domain)")
        }
        return removed
    }
}

/// Reads the console on a dedicated thread (blocking poll and read), so
/// that no thread of Swift's cooperative pool waits on a socket.
final class ConsoleReader: @unchecked Sendable {
    private let lock = NSLock()
    private var collector: OutputCollector

    init(limit: Int) {
        collector = OutputCollector(limit: limit)
    }

    var result: OutputCollector { lock.withLock { collector } }

    func read(fd: Int32, deadline: UInt64, onBytes: @escaping @Sendable ([UInt8]) -> Void, onReady: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                var local = OutputCollector(limit: self.lock.withLock { self.collector.limit })
                local.drain(fd, deadline: deadline, onMarker: { _ in onReady() }, onBytes: onBytes)
                close(fd)
                self.lock.withLock { self.collector = local }
                continuation.resume()
            }
        }
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

/// Samples the QEMU process's memory and CPU time every 50 ms while it runs,
/// keeping the last values seen (the process is gone once the guest is).
final class ResourceSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var values = VMResources()
    private var running = true
    private var readyRequested = false
    let pid: Int32?

    init(pid: Int32?) {
        self.pid = pid
        values.qemuPID = pid
    }

    var resources: VMResources { lock.withLock { values } }

    func start() {
        guard let pid else { return }
        Thread.detachNewThread {
            while self.lock.withLock({ self.running }) {
                self.sample(pid)
                usleep(50_000)
            }
        }
    }

    /// Samples at READY on the caller's thread too, so that a loaded host
    /// that delays the sampling thread still gets figures.
    func markReady() {
        guard let pid else { return }
        let pss = Self.pss(pid)
        lock.withLock { if values.pssAtReadyKiB == nil { values.pssAtReadyKiB = pss } }
        sample(pid)
    }

    func stop() { lock.withLock { running = false } }

    private func sample(_ pid: Int32) {
        let status = FileSystem.readTextIfPresent("/proc/\(pid)/status") ?? ""
        let peak = MemInfo.value("VmHWM", in: status)
        let pss = Self.pss(pid)
        let cpu = Self.cpuNs(pid)
        lock.withLock {
            if let peak { values.peakRSSKiB = peak }
            if let pss { values.pssAtEndKiB = pss }
            if let cpu { values.cpuNs = cpu }
        }
    }

    static func pss(_ pid: Int32) -> Int? {
        MemInfo.value("Pss", in: FileSystem.readTextIfPresent("/proc/\(pid)/smaps_rollup") ?? "")
    }

    static func cpuNs(_ pid: Int32) -> UInt64? {
        guard let stat = FileSystem.readTextIfPresent("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based), in clock ticks.
        guard fields.count > 13, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) * 1_000_000_000 / max(ticks, 1)
    }
}
