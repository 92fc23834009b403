import LabWire
import LabContainer
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// A configured kind of instance: the bare process, the lab's container,
/// the libvirt guest (and, later, the peers). Trials, checks, demos and the
/// commands all start instances through this one protocol and run them with
/// `InstanceRun`; none of them asks which kind it has.
public protocol Backend: Sendable {
    var kind: BackendKind { get }
    /// Starts an instance. On any error nothing is left behind: no process,
    /// cgroup, mount, domain or file.
    func start(_ request: InstanceRequest) async throws -> any Instance
    /// The accelerator its guests run with; nil for a kind without guests.
    var guestAccelerator: Accelerator? { get }
}

extension Backend {
    public var guestAccelerator: Accelerator? { nil }
}

/// One started instance, until its teardown.
public protocol Instance: AnyObject, Sendable {
    var id: String { get }
    var kind: BackendKind { get }
    /// Where its output arrives (a pipe, a VM's console); nil when it writes
    /// to the lab's own terminal.
    var outputFD: Int32? { get }
    /// The accelerator of a VM, nil elsewhere.
    var accelerator: Accelerator? { get }
    /// The backend's named instants; the reader adds `first_byte`/`ready`.
    var timeline: Timeline { get }
    func mark(_ phase: String, at ns: UInt64)
    /// The host processes that make up the instance now: bare, the agent;
    /// a container, every process in its cgroup; a VM, QEMU and its helpers.
    func hostProcesses() -> [pid_t]
    /// Waits for its end; nil when the deadline (monotonic ns) came first.
    func waitForExit(until deadline: UInt64) async -> InstanceExit?
    /// Ends it at once (SIGKILL to every process, or virDomainDestroy).
    func kill() async
    /// Figures of the backend's own instruments, read after the exit and
    /// before the teardown (a cgroup's counters, rusage, ...).
    func finalFigures() -> BackendFigures
    /// The files on the host's disk the instance was started from (its
    /// image: shared by every instance) and those made for it alone (run
    /// directory, state file, volume), measured before the teardown.
    func diskPaths() -> (image: [String], instance: [String])
    /// Removes everything the instance made and marks `cleaned`. Safe to
    /// call twice, and from a signal handler's thread.
    func teardown() async throws

    // What a check or a demo may need beyond running it, by capability,
    // never by asking which kind it is: nil where the kind has none.

    /// Its first process, as the host numbers it (a container's init).
    var mainPID: pid_t? { get }
    /// Its root file system as the host reaches it (`/proc/PID/root`).
    var rootPath: String? { get }
    /// The control group of the lab's that holds it.
    var cgroup: (any InstanceCgroup)? { get }
}

/// An instance's control group, as the checks and demos use it.
public protocol InstanceCgroup: Sendable {
    /// Its directories on the host, one per hierarchy (one on cgroup v2).
    var directories: [String] { get }
    func processes() -> [pid_t]
    func stats() -> CgroupStats
    func freeze() throws
    func thaw() throws
    /// Its counters read after the exit, before the teardown.
    var statsAtExit: CgroupStats? { get }
}

extension Instance {
    public var mainPID: pid_t? { nil }
    public var rootPath: String? { nil }
    public var cgroup: (any InstanceCgroup)? { nil }

    /// `capability`, or a visible "not applicable" naming what needed it:
    /// work a kind cannot do is an error in the results, never a silent skip.
    public func require<T>(_ capability: T?, _ name: String, for purpose: String) throws -> T {
        guard let capability else {
            throw LabError(.unsupported, "not applicable: a \(kind.rawValue) instance has no \(name) (\(purpose) needs one)")
        }
        return capability
    }
}

/// What to run in an instance.
public struct InstanceRequest: Sendable {
    public enum Program: Sendable, Equatable {
        /// The image's agent, `isolab-agent run ARGS` (every backend).
        case agent([String])
        /// Any program: a path inside the image for a container, on the host
        /// for bare. A VM runs only the agent.
        case command([String])
    }

    public enum Output: Sendable, Equatable {
        /// stdout (and, for a container, stderr) to a pipe the lab reads.
        case capture
        /// The lab's own stdin, stdout and stderr (an interactive command).
        case terminal
    }

    public var program: Program
    public var output: Output
    /// Seconds from the start to the end before the lab ends the instance;
    /// nil only for `.terminal`, where the user is there to end it.
    public var timeout: Double?
    /// Sees the output as it arrives (a live console).
    public var onBytes: (@Sendable ([UInt8]) -> Void)?
    /// Standard error of a captured program: to the same pipe as stdout.
    public var mergeStderr: Bool
    /// A descriptor the program gets as its stdin (a captured program's is
    /// /dev/null otherwise); the caller keeps and closes it.
    public var stdin: Int32?
    /// A volume of the instance's own on the host's disk, at `volume.path`
    /// inside it: a host directory (bare, bind-mounted in a container) or a
    /// disk image with ext4 (a guest, virtio-blk with cache=none).
    public var volume: VolumeRequest?
    /// Sample the instance's memory (PSS) at READY and every 50 ms. Reading
    /// smaps walks the processes' page tables: on two cores it slows what it
    /// watches after READY (measured against hyperfine: docs/peers.md), so a
    /// pure timing (the hyperfine cross-check) turns it off. READY itself is
    /// marked before the first sample.
    public var sampleMemory = true
    /// Walk the image's and the instance's paths for their allocated bytes
    /// when it has ended (a few hundred stat calls for the built-in image):
    /// a command that reports no figures (`container run`,
    /// `vm run`) turns it off, and both disk figures are then 0.
    public var measureDisk = true

    public struct VolumeRequest: Sendable, Equatable {
        public var path = Volume.path
        /// The size of a guest's disk image.
        public var sizeBytes: UInt64

        public init(sizeBytes: UInt64) { self.sizeBytes = sizeBytes }
    }

    public init(_ program: Program, output: Output = .capture, timeout: Double?, mergeStderr: Bool = false,
                volume: VolumeRequest? = nil, onBytes: (@Sendable ([UInt8]) -> Void)? = nil) {
        self.program = program
        self.output = output
        self.timeout = timeout
        self.mergeStderr = mergeStderr
        self.volume = volume
        self.onBytes = onBytes
    }

    /// The agent's arguments, or the command.
    public var arguments: [String] {
        switch program {
        case .agent(let arguments): arguments
        case .command(let command): command
        }
    }
}

/// How an instance ended.
public enum InstanceExit: Sendable, Equatable {
    /// Its main process exited with a status.
    case exited(Int32)
    /// Its main process was killed by a signal; `reason` in words
    /// (`killed by the memory limit (32 MiB)`).
    case signaled(Int32, reason: String)
    /// A guest powered off (its agent's DONE line says how the work ended).
    case poweredOff

    /// The status a command exits with: the code, 128 + the signal, 0 for a
    /// power-off (the agent's DONE decides).
    public var code: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal, _): 128 + signal
        case .poweredOff: 0
        }
    }

    public var text: String {
        switch self {
        case .exited(let code): "exited with \(code)"
        case .signaled(_, let reason): reason
        case .poweredOff: "powered off"
        }
    }

    /// From a raw wait status.
    public static func from(waitStatus status: Int32) -> InstanceExit {
        let signal = status & 0x7F
        if signal == 0 { return .exited((status >> 8) & 0xFF) }
        return .signaled(signal, reason: "killed by signal \(signal) (\(String(cString: strsignal(signal))))")
    }
}

/// One figure of a backend's own instrument, named by it: a secondary
/// column beside the lab's one memory instrument (PSS).
public struct ResourceFigure: Sendable, Equatable {
    /// `cgroup_peak`, `qemu_rss_peak`, `agent_rss_peak`, ...
    public var name: String
    public var value: Double
    public var unit: String
    /// What measured it, in words: `cgroup memory.peak`, `QEMU VmHWM`.
    public var instrument: String

    public init(name: String, value: Double, unit: String, instrument: String) {
        self.name = name
        self.value = value
        self.unit = unit
        self.instrument = instrument
    }
}

/// What a backend measures itself at the end.
public struct BackendFigures: Sendable, Equatable {
    /// CPU time of the whole instance, ns, and the instrument.
    public var cpuNs: UInt64?
    public var cpuInstrument: String?
    public var secondary: [ResourceFigure]

    public init(cpuNs: UInt64? = nil, cpuInstrument: String? = nil, secondary: [ResourceFigure] = []) {
        self.cpuNs = cpuNs
        self.cpuInstrument = cpuInstrument
        self.secondary = secondary
    }
}

/// What one run of an instance gave.
public struct InstanceOutcome: Sendable {
    public var id: String
    public var kind: BackendKind
    public var accelerator: Accelerator?
    /// The backend's phases plus `first_byte`, `ready`, `exited`, `cleaned`.
    public var timeline: Timeline
    /// The captured output (at most `InstanceRun.outputLimit` bytes).
    public var output: String
    public var lines: [AgentLine]
    public var exit: InstanceExit
    /// The lab's own instruments, the same for every backend.
    public var memory: MemoryFigures
    public var figures: BackendFigures
    /// Allocated bytes on the host's disk: the image it started from, and
    /// what was made for this instance alone.
    public var diskImageBytes: Int
    public var diskInstanceBytes: Int

    /// The agent's READY fields, if it wrote READY.
    public var ready: [String: String]? {
        for line in lines { if case .ready(let fields) = line { return fields } }
        return nil
    }

    /// The agent's DONE status, if it wrote DONE.
    public var doneStatus: Int32? {
        for line in lines { if case .done(let status) = line { return status } }
        return nil
    }

    /// The last lines of the output, for errors.
    public func tail(_ count: Int = 5) -> String {
        let lines = output.split(whereSeparator: \.isNewline).suffix(count).joined(separator: " | ")
        return lines.isEmpty ? "(none)" : lines
    }
}

/// Memory of an instance measured the same way on every backend: the PSS
/// (`/proc/PID/smaps_rollup`) summed over its host processes, at READY and
/// at its peak, and the host's `MemAvailable` drop from just before the
/// start to READY as an independent, system-wide check.
public struct MemoryFigures: Sendable, Equatable {
    public var pssAtReadyKiB: Int?
    public var pssPeakKiB: Int?
    /// How many host processes the READY sum covered.
    public var processesAtReady: Int?
    public var memAvailableDropKiB: Int?
    /// The largest summed VmHWM seen (the high-water RSS of the processes).
    public var rssPeakKiB: Int?
    /// The last summed CPU time of the host processes (utime + stime), ns.
    public var lastCPUNs: UInt64?

    public init() {}
}
