/// A workload as the host and the agent both know it: its name, a line
/// on what it does, and the parameters it accepts.
public struct WorkloadContract: Sendable {
    public var name: String
    public var summary: String
    public var parameters: [ParameterSpec]

    public init(name: String, summary: String, parameters: [ParameterSpec]) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
    }
}

/// The workloads the agent runs, as the host and the agent both read them:
/// names, parameters and their checks. The agent holds the work itself.
public enum WorkloadContracts {
    static let seconds = ParameterSpec(
        name: "seconds", kind: .seconds(0.001...3600), defaultValue: nil,
        help: "run for this long instead of the fixed amount of work")
    static func mib(_ defaultValue: Int, _ help: String) -> ParameterSpec {
        ParameterSpec(name: "mib", kind: .integer(1...65_536), defaultValue: String(defaultValue), help: help)
    }
    static func count(_ defaultValue: Int, _ help: String) -> ParameterSpec {
        ParameterSpec(name: "count", kind: .integer(1...1_000_000_000), defaultValue: String(defaultValue), help: help)
    }

    public static let all: [WorkloadContract] = [
        WorkloadContract(name: "noop", summary: "nothing: the cost of starting alone", parameters: []),
        WorkloadContract(
            name: "cpu", summary: "prime sieve (integer), SHA-256 (integer), multiply-add chain (floating point)",
            parameters: [seconds]),
        WorkloadContract(
            name: "memory", summary: "STREAM copy, scale, add and triad",
            parameters: [mib(64, "MiB per array (three arrays)"), seconds]),
        WorkloadContract(
            name: "syscall", summary: "a tight loop of getppid",
            parameters: [count(2_000_000, "calls"), seconds]),
        WorkloadContract(
            name: "spawn", summary: "posix_spawn + wait of the agent itself running noop",
            parameters: [count(100, "spawns"), seconds]),
        WorkloadContract(
            name: "fileio", summary: "sequential write+fsync and read back, 4 KiB random writes with fsync",
            parameters: [
                mib(64, "MiB written sequentially"), count(200, "random 4 KiB writes"),
                ParameterSpec(name: "dir", kind: .path, defaultValue: "/tmp", help: "directory of the test file"), seconds,
            ]),
        WorkloadContract(
            name: "net", summary: "TCP over loopback: round-trip latency and bulk throughput",
            parameters: [count(2000, "round trips"), mib(64, "MiB sent in bulk"), seconds]),
        WorkloadContract(
            name: "idle", summary: "nothing for --seconds: an instance at rest, to measure its memory and idle CPU",
            parameters: [ParameterSpec(name: "seconds", kind: .seconds(0.001...86_400), defaultValue: "0.5", help: "how long to stay up")]),
        WorkloadContract(
            name: "escape", summary: "the escape suite: attempts root in a container must be refused (value: the errno, 0 when allowed)",
            parameters: [
                ParameterSpec(name: "only", kind: .text, defaultValue: "all", help: "one probe, or all"),
                ParameterSpec(name: "dev", kind: .text, defaultValue: "", help: "MAJOR:MINOR of the host's root block device"),
                ParameterSpec(name: "target", kind: .integer(0...4_194_304), defaultValue: "0", help: "a host process to try to ptrace"),
                ParameterSpec(name: "marker", kind: .path, defaultValue: "/nonexistent", help: "a host path the chroot escape looks for"),
                ParameterSpec(name: "take-tty", kind: .integer(0...1), defaultValue: "0", help: "first make stdin the controlling terminal"),
            ]),
        WorkloadContract(
            name: "append", summary: "append one byte to --path, --count times, timing each write (an overlayfs copy-up shows in the first)",
            parameters: [
                ParameterSpec(name: "path", kind: .path, defaultValue: "/data/file", help: "the file to append to"),
                count(2, "writes"),
            ]),
        WorkloadContract(
            name: "alloc", summary: "touch --mib MiB and hold it for --hold-ms (to show a memory limit)",
            parameters: [
                mib(64, "MiB to touch"),
                ParameterSpec(name: "hold-ms", kind: .integer(0...3_600_000), defaultValue: "0", help: "hold the memory this long"),
            ]),
    ]

    public static var names: [String] { all.map(\.name) }

    public static func contract(_ name: String) -> WorkloadContract? {
        all.first { $0.name == name }
    }
}


/// A parameter a workload accepts, with its default and its check.
public struct ParameterSpec: Sendable {
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        case seconds(ClosedRange<Double>)
        case path
        /// Any text of at most 256 bytes without NUL.
        case text
    }
    public var name: String
    public var kind: Kind
    /// nil: the workload does a fixed amount of work instead.
    public var defaultValue: String?
    public var help: String

    public func check(_ value: String, workload: String) throws(AgentError) {
        switch kind {
        case .integer(let range):
            guard let number = Int(value), range.contains(number) else {
                throw .badInput("--\(name) \(value) is not an integer in \(range.lowerBound)...\(range.upperBound)", workload: workload)
            }
        case .seconds(let range):
            guard let number = Double(value), number.isFinite, range.contains(number) else {
                throw .badInput("--\(name) \(value) is not a number of seconds in \(range.lowerBound)...\(range.upperBound)", workload: workload)
            }
        case .path:
            guard value.hasPrefix("/"), !value.contains("\0") else {
                throw .badInput("--\(name) \(value) is not an absolute path", workload: workload)
            }
        case .text:
            guard value.utf8.count <= 256, !value.contains("\0") else {
                throw .badInput("--\(name) is longer than 256 bytes", workload: workload)
            }
        }
    }
}

/// One workload with the parameters it will run with.
public struct WorkloadRun: Sendable, Equatable {
    public var name: String
    /// Every parameter the workload takes, given or defaulted.
    public var params: [String: String]

    public func int(_ key: String) -> Int? { params[key].flatMap { Int($0) } }
    public func seconds(_ key: String = "seconds") -> Double? { params[key].flatMap { Double($0) } }
}

/// `isolab-agent run WORKLOAD... [--param value]...`: parameters are shared by
/// every workload of the invocation that accepts them; `--WORKLOAD.param
/// value` sets one workload's alone and wins over the shared one. A parameter
/// that no named workload accepts is an error.
public enum Invocation {
    public static func parse(_ arguments: [String]) throws(AgentError) -> [WorkloadRun] {
        var names: [String] = []
        var shared: [String: String] = [:]
        var specific: [String: [String: String]] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") {
                let key = String(argument.dropFirst(2))
                guard !key.isEmpty else { throw .badInput("empty option '--'") }
                guard index + 1 < arguments.count else { throw .badInput("option --\(key) needs a value") }
                let value = arguments[index + 1]
                if let dot = key.firstIndex(of: ".") {
                    specific[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = value
                } else {
                    shared[key] = value
                }
                index += 2
            } else {
                guard let _ = WorkloadContracts.contract(argument) else {
                    throw .badInput("unknown workload '\(argument)'", workload: argument, accepted: WorkloadContracts.names)
                }
                names.append(argument)
                index += 1
            }
        }
        guard !names.isEmpty else {
            throw .badInput("no workload given", accepted: WorkloadContracts.names)
        }
        for (workload, params) in specific {
            guard let spec = WorkloadContracts.contract(workload), names.contains(workload) else {
                throw .badInput("--\(workload).\(params.keys.sorted()[0]) names a workload that is not run", accepted: names)
            }
            for key in params.keys where !spec.parameters.contains(where: { $0.name == key }) {
                throw .badInput("workload \(workload) takes no --\(key)", workload: workload,
                                accepted: spec.parameters.map { "--" + $0.name })
            }
        }
        for key in shared.keys.sorted() {
            let takers = names.compactMap(WorkloadContracts.contract).filter { $0.parameters.contains { $0.name == key } }
            guard !takers.isEmpty else {
                let accepted = Set(names.compactMap(WorkloadContracts.contract).flatMap { $0.parameters.map { "--" + $0.name } })
                throw .badInput("no workload of \(names.joined(separator: ", ")) takes --\(key)", accepted: accepted.sorted())
            }
        }
        var runs: [WorkloadRun] = []
        for name in names {
            let spec = WorkloadContracts.contract(name)!
            var params: [String: String] = [:]
            for parameter in spec.parameters {
                if let value = specific[name]?[parameter.name] ?? shared[parameter.name] ?? parameter.defaultValue {
                    try parameter.check(value, workload: name)
                    params[parameter.name] = value
                }
            }
            runs.append(WorkloadRun(name: name, params: params))
        }
        return runs
    }
}

/// The escape workload's probes, in the order they run, with what each
/// tries: the agent runs them, the host reads their results by name.
public enum EscapeProbes {
    /// Every probe, in the order they run, with what it tries.
    public static let all: [(name: String, tries: String)] = [
        ("mknod_host_disk", "mknod the host's root block device in /tmp and read one block"),
        ("mknod_kmsg", "mknod /dev/kmsg's character device (1:11) in /tmp and open it"),
        ("write_sysrq_trigger", "open /proc/sysrq-trigger for writing (never written)"),
        ("write_core_pattern", "open /proc/sys/kernel/core_pattern for writing (never written)"),
        ("read_kcore", "read a byte of /proc/kcore"),
        ("mount_tmpfs", "mount a tmpfs on a scratch directory"),
        ("init_module", "init_module of an empty module"),
        ("finit_module", "finit_module of an empty module"),
        ("kexec_load", "kexec_load for another architecture"),
        ("open_by_handle_at", "open_by_handle_at of a made-up handle"),
        ("bpf", "bpf(BPF_MAP_CREATE) of an empty map"),
        ("perf_event_open", "perf_event_open of a disabled software clock"),
        ("keyctl", "keyctl: the session keyring's id"),
        ("userns_mount", "unshare a user and mount namespace, then mount a tmpfs"),
        ("ptrace_outside", "ptrace (PTRACE_SEIZE) a process of the host"),
        ("chroot_escape", "mkdir x; chroot x; cd ../../..; chroot . and look for a host path"),
        ("tiocsti", "TIOCSTI: push a key into the terminal on stdin"),
    ]
}
