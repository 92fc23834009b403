import LabAgentCore
import LabCore
import LabImage
import LabVirt

/// A scenario file: what to compare, on which backends, how often.
/// See docs/scenarios.md.
public struct Scenario: Decodable, Sendable {
    public enum BackendKind: String, Codable, Sendable, CaseIterable, Comparable {
        case bare, container, vm
        public static func < (a: BackendKind, b: BackendKind) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
    }

    /// A built-in or stored image by name, or an inline definition.
    public enum ImageChoice: Sendable {
        case named(String)
        case inline(ImageDefinition)
    }

    public struct Workload: Decodable, Sendable, Equatable {
        public var name: String
        /// Parameters as the agent takes them (`seconds: 1` is `--seconds 1`).
        public var params: [String: String]

        enum CodingKeys: String, CodingKey, CaseIterable { case name, params }

        public init(name: String, params: [String: String] = [:]) {
            self.name = name
            self.params = params
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            guard WorkloadCatalog.spec(name) != nil else {
                throw DecodingError.dataCorruptedError(forKey: .name, in: container,
                    debugDescription: "unknown workload '\(name)'; accepted: \(WorkloadCatalog.names.joined(separator: ", "))")
            }
            params = try container.decodeIfPresent([String: ScalarText].self, forKey: .params)?.mapValues(\.text) ?? [:]
        }
    }

    public struct Limits: Decodable, Sendable, Equatable {
        public var memoryBytes: UInt64?
        public var cpus: Double?
        public var cpuWeight: Int?
        public var pids: Int?

        enum CodingKeys: String, CodingKey, CaseIterable { case memory, cpus, cpu_weight, pids }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let memory = try container.decodeIfPresent(ScalarText.self, forKey: .memory) {
                do {
                    memoryBytes = try ByteSize.parse(memory.text, what: "memory")
                } catch let error as LabError {
                    throw DecodingError.dataCorruptedError(forKey: .memory, in: container, debugDescription: error.message)
                }
                guard memoryBytes! >= 4 << 20 else {
                    throw DecodingError.dataCorruptedError(forKey: .memory, in: container, debugDescription: "\(memory.text) is below the smallest limit a container can start in (4M)")
                }
            }
            cpus = try container.decodeIfPresent(Double.self, forKey: .cpus)
            if let cpus, !(cpus > 0) {
                throw DecodingError.dataCorruptedError(forKey: .cpus, in: container, debugDescription: "\(cpus) must be above 0")
            }
            cpuWeight = try container.decodeIfPresent(Int.self, forKey: .cpu_weight)
            if let cpuWeight, !(1...10_000).contains(cpuWeight) {
                throw DecodingError.dataCorruptedError(forKey: .cpu_weight, in: container, debugDescription: "\(cpuWeight) must be between 1 and 10000")
            }
            pids = try container.decodeIfPresent(Int.self, forKey: .pids)
            if let pids, pids < 1 {
                throw DecodingError.dataCorruptedError(forKey: .pids, in: container, debugDescription: "\(pids) must be at least 1")
            }
        }
    }

    public struct VMSettings: Decodable, Sendable, Equatable {
        public var accel: AcceleratorRequest = .auto
        public var machine: DomainDefinition.Machine = .pc
        public var memoryMiB = 256
        public var vcpus = 1
        public var bootTimeout: Double = 120

        enum CodingKeys: String, CodingKey, CaseIterable { case accel, machine, memory, vcpus, boot_timeout }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if try container.decodeIfPresent(String.self, forKey: .accel) != nil {
                accel = try container.decodeChoice(AcceleratorRequest.self, forKey: .accel)
            }
            if try container.decodeIfPresent(String.self, forKey: .machine) != nil {
                machine = try container.decodeChoice(DomainDefinition.Machine.self, forKey: .machine)
            }
            if let memory = try container.decodeIfPresent(ScalarText.self, forKey: .memory) {
                let bytes = (try? ByteSize.parse(memory.text, what: "memory")) ?? 0
                guard bytes >= 64 << 20 else {
                    throw DecodingError.dataCorruptedError(forKey: .memory, in: container, debugDescription: "'\(memory.text)' must be a size of at least 64M")
                }
                memoryMiB = Int(bytes >> 20)
            }
            vcpus = try container.decodeIfPresent(Int.self, forKey: .vcpus) ?? 1
            guard (1...64).contains(vcpus) else {
                throw DecodingError.dataCorruptedError(forKey: .vcpus, in: container, debugDescription: "\(vcpus) must be between 1 and 64")
            }
            bootTimeout = try container.decodeIfPresent(Double.self, forKey: .boot_timeout) ?? 120
            guard bootTimeout > 0 else {
                throw DecodingError.dataCorruptedError(forKey: .boot_timeout, in: container, debugDescription: "must be above 0")
            }
        }
    }

    /// Demonstrations run once per scenario, besides the trials.
    public enum Check: String, Codable, Sendable, CaseIterable {
        /// Namespaces as seen from inside a container.
        case isolation
        /// cgroups limiting (OOM kill), accounting and freezing a container.
        case cgroups
    }

    public var name: String
    public var description: String
    public var image: ImageChoice
    public var backends: [BackendKind]
    public var workloads: [Workload]
    public var repetitions: Int
    public var warmup: Int
    public var limits: Limits
    public var vm: VMSettings
    public var checks: [Check]
    public var seed: UInt64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, image, backends, workloads, repetitions, warmup, limits, vm, checks, seed
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        guard ImageDefinition.isValidName(name) else {
            throw DecodingError.dataCorruptedError(forKey: .name, in: container,
                debugDescription: "'\(name)' is not a scenario name: use a-z, 0-9, '.', '_', '-'")
        }
        description = try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        if let named = try? container.decode(String.self, forKey: .image) {
            image = .named(named)
        } else if container.contains(.image) {
            image = .inline(try container.decode(ImageDefinition.self, forKey: .image))
        } else {
            image = .named("busybox")
        }
        let backendNames = try container.decodeIfPresent([String].self, forKey: .backends) ?? ["bare", "container", "vm"]
        var backends: [BackendKind] = []
        for (index, name) in backendNames.enumerated() {
            guard let kind = BackendKind(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: container.codingPath + [CodingKeys.backends, AnyCodingKey(intValue: index)!],
                    debugDescription: "unknown backend '\(name)'; accepted: bare, container, vm"))
            }
            if !backends.contains(kind) { backends.append(kind) }
        }
        guard !backends.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .backends, in: container, debugDescription: "name at least one backend: bare, container, vm")
        }
        self.backends = backends
        workloads = try container.decodeIfPresent([Workload].self, forKey: .workloads) ?? [Workload(name: "noop")]
        guard !workloads.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .workloads, in: container, debugDescription: "name at least one workload, e.g. [{name: noop}]")
        }
        repetitions = try container.decodeIfPresent(Int.self, forKey: .repetitions) ?? 10
        guard repetitions >= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .repetitions, in: container, debugDescription: "\(repetitions) must be at least 1")
        }
        warmup = try container.decodeIfPresent(Int.self, forKey: .warmup) ?? 1
        guard warmup >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .warmup, in: container, debugDescription: "\(warmup) must be 0 or more")
        }
        limits = try container.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
        vm = try container.decodeIfPresent(VMSettings.self, forKey: .vm) ?? VMSettings()
        let checkNames = try container.decodeIfPresent([String].self, forKey: .checks) ?? []
        checks = try checkNames.enumerated().map { index, name in
            guard let check = Check(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: container.codingPath + [CodingKeys.checks, AnyCodingKey(intValue: index)!],
                    debugDescription: "unknown check '\(name)'; accepted: isolation, cgroups"))
            }
            return check
        }
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        // The agent must accept the workloads and their parameters: say so now, not after a boot.
        do {
            _ = try Invocation.parse(agentArguments)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .workloads, in: container, debugDescription: error.error)
        }
    }

    /// The agent's arguments after `run`: every workload, each parameter
    /// given to its own workload (`--cpu.seconds 1`).
    public var agentArguments: [String] {
        workloads.map(\.name) + workloads.flatMap { workload in
            workload.params.sorted { $0.key < $1.key }.flatMap { ["--\(workload.name).\($0.key)", $0.value] }
        }
    }

    /// Reads and checks a scenario file.
    public static func load(file path: String) throws -> (scenario: Scenario, text: String) {
        let text: String
        do {
            text = try FileSystem.readText(path)
        } catch let error as LabError {
            throw LabError(.invalidInput, "\(path): cannot read: \(error.message)")
        }
        return (try StrictYAML.decode(Scenario.self, from: text, file: path), text)
    }
}

/// A YAML scalar taken as its text, whatever type YAML would give it
/// (`seconds: 1`, `memory: 256M`).
struct ScalarText: Decodable {
    var text: String
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
        } else if let number = try? container.decode(Double.self) {
            self.text = number == number.rounded() ? String(Int(number)) : String(number)
        } else {
            self.text = String(try container.decode(Bool.self))
        }
    }
}
