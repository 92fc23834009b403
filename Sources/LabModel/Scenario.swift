/// Where a trial runs. Each kind is one backend type behind LabRunner's
/// `Backend` protocol.
public enum BackendKind: String, Codable, Sendable, CaseIterable, Comparable {
    case bare, container, vm
    /// A whole operating system (the scenario's `os_image`, Debian): systemd
    /// as PID 1 of the lab's own container, and a VM booting the image's
    /// kernel, initrd and disk to `multi-user.target` (docs/full-os.md).
    case systemContainer = "system-container"
    case osVM = "os-vm"
    /// Peers: the tools people use, on the same rootfs and agent (docs/peers.md).
    case runc, crun, podman, nspawn, unshare, qemu
    public static func < (a: BackendKind, b: BackendKind) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

    /// A tool the lab runs beside its own backends, not one of them.
    public var isPeer: Bool { ![.bare, .container, .vm, .systemContainer, .osVM].contains(self) }

    /// Boots a whole OS rather than running one process as its init.
    public var isFullOS: Bool { self == .systemContainer || self == .osVM }

    /// A virtual machine (its own kernel), as against a process on the host's.
    public var isVM: Bool { self == .vm || self == .osVM || self == .qemu }

    /// The one-process backend a whole-OS backend is set beside.
    public var oneProcessCounterpart: BackendKind? {
        switch self {
        case .systemContainer: .container
        case .osVM: .vm
        default: nil
        }
    }

    /// The lab's own backend a peer is held against: its container for the
    /// container runtimes and `unshare`, its libvirt VM for `qemu`.
    public var labCounterpart: BackendKind? {
        switch self {
        case .runc, .crun, .podman, .nspawn, .unshare: .container
        case .qemu: .vm
        case .bare, .container, .vm, .systemContainer, .osVM: nil
        }
    }

    /// `bare, container, vm, runc, ...`: for error messages.
    public static var acceptedList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// A scenario file: what to compare, on which backends, how often.
/// See docs/scenarios.md. Decoding checks every value's range; the
/// workloads are checked against the agent's catalogue through
/// `Scenario.workloadCheckKey` (LabRunner's loader passes the check).
public struct Scenario: Decodable, Sendable {
    public typealias BackendKind = LabModel.BackendKind

    /// The `userInfo` key of a `@Sendable ([String]) throws -> Void` that
    /// validates the agent's arguments; its error's description is reported
    /// at the `workloads` field.
    public static let workloadCheckKey = CodingUserInfoKey(rawValue: "isolab.workloadCheck")!
    public typealias WorkloadCheck = @Sendable ([String]) throws -> Void

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
            params = try container.decodeIfPresent([String: ScalarText].self, forKey: .params)?.mapValues(\.text) ?? [:]
            // Each workload checked on its own, so that an error names its entry.
            if let check = decoder.userInfo[Scenario.workloadCheckKey] as? WorkloadCheck {
                do {
                    try check(Scenario.arguments(of: [self]))
                } catch {
                    throw DecodingError.dataCorruptedError(forKey: params.isEmpty ? .name : .params, in: container, debugDescription: "\(error)")
                }
            }
        }
    }

    public struct Limits: Decodable, Sendable, Equatable {
        public var memoryBytes: UInt64?
        public var cpus: Double?
        public var cpuWeight: Int?
        public var pids: Int?

        enum CodingKeys: String, CodingKey, CaseIterable { case memory, cpus, cpu_weight, pids }

        public init(memoryBytes: UInt64? = nil, cpus: Double? = nil, cpuWeight: Int? = nil, pids: Int? = nil) {
            self.memoryBytes = memoryBytes
            self.cpus = cpus
            self.cpuWeight = cpuWeight
            self.pids = pids
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            memoryBytes = try container.decodeSize(.memory, in: InputRanges.containerMemory, what: "a memory limit")
            cpus = try container.decodeNumber(.cpus, in: InputRanges.cpus, what: "a number of CPUs")
            cpuWeight = try container.decodeInteger(.cpu_weight, in: InputRanges.cpuWeight)
            pids = try container.decodeInteger(.pids, in: InputRanges.pids)
        }
    }

    public struct VMSettings: Decodable, Sendable, Equatable {
        public var accel: AcceleratorRequest = .auto
        public var machine: MachineType = .pc
        public var memoryMiB = 256
        public var vcpus = 1
        public var bootTimeout: Double = 120
        /// TCG's translation-buffer size, MiB (nil: QEMU's default, 1 GiB reserved here).
        public var tbCacheMiB: Int?

        enum CodingKeys: String, CodingKey, CaseIterable { case accel, machine, memory, vcpus, boot_timeout, tb_cache }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if try container.decodeIfPresent(String.self, forKey: .accel) != nil {
                accel = try container.decodeChoice(AcceleratorRequest.self, forKey: .accel)
            }
            if try container.decodeIfPresent(String.self, forKey: .machine) != nil {
                machine = try container.decodeChoice(MachineType.self, forKey: .machine)
            }
            if let bytes = try container.decodeSize(.memory, in: InputRanges.guestMemory, what: "guest memory") {
                memoryMiB = Int(bytes >> 20)
            }
            vcpus = try container.decodeInteger(.vcpus, in: InputRanges.vcpus) ?? 1
            bootTimeout = try container.decodeNumber(.boot_timeout, in: InputRanges.bootTimeout, what: "seconds") ?? 120
            tbCacheMiB = try container.decodeSize(.tb_cache, in: (1 << 20)...(4 << 30), what: "a translation buffer").map { Int($0 >> 20) }
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
    /// Several images, compared (`images:`): the scenario runs once per
    /// image, each run a report of its own, and one table sets their
    /// start-up and disk side by side (docs/images.md). Empty: `image` alone.
    public var images: [String] = []
    public var backends: [BackendKind]
    public var workloads: [Workload]
    public var repetitions: Int
    public var warmup: Int
    public var limits: Limits
    public var vm: VMSettings
    public var checks: [Check]
    public var seed: UInt64
    /// Every backend on this many host CPUs (the last ones), pinned: the
    /// process and the container by affinity, the guest's vCPUs (as many)
    /// and QEMU's threads through libvirt. nil: not pinned.
    public var cpus: Int?
    /// A volume of this size on the host's disk at `/data` in every
    /// instance: a host directory (bound into the container), an ext4 disk
    /// image for the guest (virtio-blk, cache=none).
    public var volumeBytes: UInt64?
    /// The containers' seccomp profile.
    public var seccomp: SeccompProfile
    /// The whole-OS image the `system-container` and `os-vm` backends boot.
    public var osImage: String
    /// A density ramp per backend, after the trials (docs/density.md).
    public var density: DensitySettings?
    /// A noisy-neighbour experiment per backend, after the trials.
    public var neighbour: NeighbourSettings?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, image, images, backends, workloads, repetitions, warmup, limits, vm, checks, seed, cpus, volume, seccomp, os_image
        case density, neighbour
    }

    struct VolumeKeys: Decodable {
        var size: UInt64
        enum CodingKeys: String, CodingKey, CaseIterable { case size }
        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard let size = try container.decodeSize(.size, in: (16 << 20)...(64 << 30), what: "a volume") else {
                throw DecodingError.keyNotFound(CodingKeys.size, .init(codingPath: container.codingPath, debugDescription: "give the volume's size, e.g. {size: 512M}"))
            }
            self.size = size
        }
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
        if let names = try container.decodeIfPresent([String].self, forKey: .images) {
            guard !container.contains(.image) else {
                throw DecodingError.dataCorruptedError(forKey: .images, in: container, debugDescription: "give either image: or images:, not both")
            }
            guard (2...8).contains(names.count), Set(names).count == names.count else {
                throw DecodingError.dataCorruptedError(forKey: .images, in: container, debugDescription: "images: lists 2 to 8 different image names to compare")
            }
            for name in names where !ImageDefinition.isValidImageName(name) {
                throw DecodingError.dataCorruptedError(forKey: .images, in: container, debugDescription: "'\(name)' is not an image name")
            }
            images = names
            image = .named(names[0])
        }
        let backendNames = try container.decodeIfPresent([String].self, forKey: .backends) ?? ["bare", "container", "vm"]
        var backends: [BackendKind] = []
        for (index, name) in backendNames.enumerated() {
            guard let kind = BackendKind(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: container.codingPath + [CodingKeys.backends, AnyCodingKey(intValue: index)!],
                    debugDescription: "unknown backend '\(name)'; accepted: \(BackendKind.acceptedList)"))
            }
            if !backends.contains(kind) { backends.append(kind) }
        }
        guard !backends.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .backends, in: container, debugDescription: "name at least one backend: \(BackendKind.acceptedList)")
        }
        self.backends = backends
        workloads = try container.decodeIfPresent([Workload].self, forKey: .workloads) ?? [Workload(name: "noop")]
        guard !workloads.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .workloads, in: container, debugDescription: "name at least one workload, e.g. [{name: noop}]")
        }
        repetitions = try container.decodeInteger(.repetitions, in: 1...10_000) ?? 10
        warmup = try container.decodeInteger(.warmup, in: 0...1000) ?? 1
        limits = try container.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
        vm = try container.decodeIfPresent(VMSettings.self, forKey: .vm) ?? VMSettings()
        let checkNames = try container.decodeIfPresent([String].self, forKey: .checks) ?? []
        checks = try checkNames.enumerated().map { index, name in
            guard let check = Check(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: container.codingPath + [CodingKeys.checks, AnyCodingKey(intValue: index)!],
                    debugDescription: "unknown check '\(name)'; accepted: \(Check.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            return check
        }
        if let seed = try? container.decodeIfPresent(UInt64.self, forKey: .seed) {
            self.seed = seed
        } else if container.contains(.seed) {
            throw DecodingError.dataCorruptedError(forKey: .seed, in: container, debugDescription: "must be a whole number from 0 to \(UInt64.max)")
        } else {
            seed = 1
        }
        cpus = try container.decodeInteger(.cpus, in: 1...64)
        volumeBytes = try container.decodeIfPresent(VolumeKeys.self, forKey: .volume)?.size
        if let name = try container.decodeIfPresent(String.self, forKey: .seccomp) {
            guard let profile = SeccompProfile(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .seccomp, in: container,
                    debugDescription: "unknown seccomp profile '\(name)'; accepted: \(SeccompProfile.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            seccomp = profile
        } else {
            seccomp = .default
        }
        density = try container.decodeIfPresent(DensitySettings.self, forKey: .density)
        neighbour = try container.decodeIfPresent(NeighbourSettings.self, forKey: .neighbour)
        osImage = try container.decodeIfPresent(String.self, forKey: .os_image) ?? "debian"
        guard ImageDefinition.isValidName(osImage) else {
            throw DecodingError.dataCorruptedError(forKey: .os_image, in: container, debugDescription: "'\(osImage)' is not an image name")
        }
        // The agent must accept the workloads and their parameters: say so now, not after a boot.
        if let check = decoder.userInfo[Self.workloadCheckKey] as? WorkloadCheck {
            do {
                try check(agentArguments)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .workloads, in: container, debugDescription: "\(error)")
            }
        }
    }

    /// The agent's arguments after `run`: every workload, each parameter
    /// given to its own workload (`--cpu.seconds 1`).
    public var agentArguments: [String] { Self.arguments(of: workloads) }

    static func arguments(of workloads: [Workload]) -> [String] {
        workloads.map(\.name) + workloads.flatMap { workload in
            workload.params.sorted { $0.key < $1.key }.flatMap { ["--\(workload.name).\($0.key)", $0.value] }
        }
    }
}

extension KeyedDecodingContainer {
    /// A size (`256M`, or a number of bytes) in `range`, or nil when absent.
    public func decodeSize(_ key: Key, in range: ClosedRange<UInt64>, what: String) throws -> UInt64? {
        guard let text = try decodeIfPresent(ScalarText.self, forKey: key)?.text else { return nil }
        let bytes: UInt64
        do {
            bytes = try ByteSize.parse(text, what: key.stringValue)
        } catch let error as LabError {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: error.message)
        }
        guard range.contains(bytes) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription: "'\(text)' is out of range: \(what) from \(ByteSize.format(range.lowerBound)) to \(ByteSize.format(range.upperBound))")
        }
        return bytes
    }
}

/// A container's seccomp filter (`Seccomp` in LabContainer builds it).
public enum SeccompProfile: String, Sendable, CaseIterable, Codable {
    /// Docker's intent: what a container without CAP_SYS_ADMIN has no
    /// business calling is refused with EPERM.
    case `default`
    /// No filter at all.
    case unconfined
}

/// The accepted ranges of the limits and guest settings, stated once: the
/// scenario's decoder and the command line's options check against the same
/// numbers (they disagreed: cpus 0.01 against above 0, pids bounded against
/// not, a boot timeout of 1 s against above 0).
public enum InputRanges {
    public static let containerMemory: ClosedRange<UInt64> = (4 << 20)...(1 << 40)
    public static let cpus: ClosedRange<Double> = 0.01...1024
    public static let cpuWeight: ClosedRange<Int> = 1...10_000
    /// Linux's PID_MAX_LIMIT.
    public static let pids: ClosedRange<Int> = 1...4_194_304
    public static let guestMemory: ClosedRange<UInt64> = (64 << 20)...(1 << 40)
    public static let vcpus: ClosedRange<Int> = 1...64
    public static let bootTimeout: ClosedRange<Double> = 1...3600

    /// `--cpus 0.0 must be between 0.01 and 1024`: the command line's one line for a number out of its range.
    public static func check<T: Comparable & CustomStringConvertible>(_ value: T?, _ range: ClosedRange<T>, option: String, unit: String = "") throws {
        guard let value, !range.contains(value) else { return }
        throw LabError(.invalidInput, "\(option) \(value) must be between \(range.lowerBound) and \(range.upperBound)\(unit)")
    }
}
