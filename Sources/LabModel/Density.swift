/// A density ramp (docs/density.md): how many instances of one image run at
/// once, and what each costs, per backend.
public struct DensitySettings: Decodable, Sendable, Equatable {
    /// The ramp stops at this many instances.
    public var maxInstances = 16
    /// N grows by doubling (0) or by this step.
    public var step = 0
    /// The ramp stops when MemAvailable falls below this fraction of MemTotal.
    public var memoryFloor = 0.10
    /// Seconds per backend before the ramp stops.
    public var budgetSeconds: Double = 600
    /// Instances started at once, at each N, for the creation rate.
    public var concurrency = 4
    /// Seconds over which the idle CPU of the running instances is measured.
    public var idleWindow: Double = 2
    /// Measure KSM off and on at the ramp's last N (VMs).
    public var ksm = true

    enum CodingKeys: String, CodingKey, CaseIterable { case max_instances, step, memory_floor, budget, concurrency, idle_window, ksm }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxInstances = try container.decodeInteger(.max_instances, in: 1...1024) ?? 16
        step = try container.decodeInteger(.step, in: 0...1024) ?? 0
        memoryFloor = try container.decodeNumber(.memory_floor, in: 0.01...0.9, what: "a fraction of the host's memory") ?? 0.10
        budgetSeconds = try container.decodeNumber(.budget, in: 1...86_400, what: "seconds") ?? 600
        concurrency = try container.decodeInteger(.concurrency, in: 1...64) ?? 4
        idleWindow = try container.decodeNumber(.idle_window, in: 0.1...60, what: "seconds") ?? 2
        ksm = try container.decodeIfPresent(Bool.self, forKey: .ksm) ?? true
    }

    /// Doubling up to `n`: 1, 2, 4, ..., n.
    public static func countsUpTo(_ n: Int) -> [Int] {
        var settings = DensitySettings()
        settings.maxInstances = n
        return settings.counts
    }

    /// 1, 2, 4, 8, ... (or 1, 1+step, ...) up to `maxInstances`, which is always the last.
    public var counts: [Int] {
        var counts: [Int] = []
        var n = 1
        while n < maxInstances {
            counts.append(n)
            n = step > 0 ? n + step : n * 2
        }
        return counts + [maxInstances]
    }
}

/// A noisy-neighbour experiment (docs/density.md): a victim alone, beside
/// a neighbour without limits, and beside one with limits.
public struct NeighbourSettings: Decodable, Sendable, Equatable {
    /// Victim runs per condition.
    public var repetitions = 5
    /// Seconds of each victim workload (cpu, then memory).
    public var seconds: Double = 1
    /// The limited neighbour: a CPU quota, a weight and memory for a
    /// container; its vCPUs pinned to `cpus` host CPUs for a VM.
    public var cpus = 0.5
    /// 1 against the victim's default 100: a CPU-bound victim sharing a CPU
    /// with it keeps 100/101 of its rate by the weights, well inside the
    /// ±10 % band "does not disturb" is judged by (a weight of 10 would
    /// leave it 0.909, on the band's edge).
    public var cpuWeight = 1
    public var memoryBytes: UInt64 = 256 << 20

    enum CodingKeys: String, CodingKey, CaseIterable { case repetitions, seconds, cpus, cpu_weight, memory }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        repetitions = try container.decodeInteger(.repetitions, in: 2...1000) ?? 5
        seconds = try container.decodeNumber(.seconds, in: 0.1...60, what: "seconds") ?? 1
        cpus = try container.decodeNumber(.cpus, in: 0.01...64, what: "a number of CPUs") ?? 0.5
        cpuWeight = try container.decodeInteger(.cpu_weight, in: 1...10_000) ?? 1
        memoryBytes = try container.decodeSize(.memory, in: (16 << 20)...(1 << 40), what: "a memory limit") ?? (256 << 20)
    }
}

/// One backend's ramp.
public struct DensityRun: Codable, Sendable {
    public struct Step: Codable, Sendable {
        /// Instances running.
        public var n: Int
        /// Host MemAvailable drop since before the first instance, per instance (MiB).
        public var memAvailableDropPerInstanceMiB: Double
        /// PSS summed over every instance's host processes, per instance (MiB).
        public var pssPerInstanceMiB: Double
        /// Its anonymous and shared-memory part (`Pss_Anon` + `Pss_Shmem`):
        /// what MemAvailable can see go, since it counts file pages as
        /// available (MiB; nil on a kernel without the split).
        public var pssAnonPerInstanceMiB: Double?
        /// utime + stime of every instance's host processes over the idle window, per instance (ms per s).
        public var idleCPUPerInstanceMsPerS: Double
        /// `concurrency` instances started at once while `n` run: per second, launch to the last READY.
        public var creationRatePerS: Double?
        public var memAvailableMiB: Double
        /// Whether MemAvailable had stopped moving when it was read (within
        /// 3 MiB over 3 s); false when the wait for that ran out, and the
        /// drop then carries the host's own drift. nil in results written
        /// before this was recorded.
        public var memAvailableSettled: Bool?
        /// Each running instance's anonymous and shared memory (`Pss_Anon`
        /// + `Pss_Shmem` over its host processes, MiB), one value per
        /// instance: what an extra instance adds, as a sample the analysis
        /// can compare. nil in older results.
        public var instanceAnonMiB: [Double]?

        public init(n: Int, memAvailableDropPerInstanceMiB: Double, pssPerInstanceMiB: Double, idleCPUPerInstanceMsPerS: Double,
                    creationRatePerS: Double?, memAvailableMiB: Double, pssAnonPerInstanceMiB: Double? = nil, memAvailableSettled: Bool? = nil,
                    instanceAnonMiB: [Double]? = nil) {
            self.memAvailableSettled = memAvailableSettled
            self.instanceAnonMiB = instanceAnonMiB
            self.n = n
            self.memAvailableDropPerInstanceMiB = memAvailableDropPerInstanceMiB
            self.pssPerInstanceMiB = pssPerInstanceMiB
            self.pssAnonPerInstanceMiB = pssAnonPerInstanceMiB
            self.idleCPUPerInstanceMsPerS = idleCPUPerInstanceMsPerS
            self.creationRatePerS = creationRatePerS
            self.memAvailableMiB = memAvailableMiB
        }
    }

    /// KSM at the ramp's last N: off, then on until two full scans.
    public struct KSM: Codable, Sendable {
        public var n: Int
        public var pssPerInstanceOffMiB: Double
        public var pssPerInstanceOnMiB: Double
        public var memAvailableOffMiB: Double
        public var memAvailableOnMiB: Double
        public var pagesShared: Int
        public var pagesSharing: Int
        /// Bytes saved, as the kernel counts them (`general_profit`).
        public var generalProfitBytes: Int?
        public var fullScans: Int
        public var seconds: Double

        public init(n: Int, pssPerInstanceOffMiB: Double, pssPerInstanceOnMiB: Double, memAvailableOffMiB: Double, memAvailableOnMiB: Double,
                    pagesShared: Int, pagesSharing: Int, generalProfitBytes: Int?, fullScans: Int, seconds: Double) {
            self.n = n
            self.pssPerInstanceOffMiB = pssPerInstanceOffMiB
            self.pssPerInstanceOnMiB = pssPerInstanceOnMiB
            self.memAvailableOffMiB = memAvailableOffMiB
            self.memAvailableOnMiB = memAvailableOnMiB
            self.pagesShared = pagesShared
            self.pagesSharing = pagesSharing
            self.generalProfitBytes = generalProfitBytes
            self.fullScans = fullScans
            self.seconds = seconds
        }
    }

    public var backend: BackendKind
    /// Launch to READY of each instance, in order, with how many ran before it started.
    public var startLatencies: [StartLatency]
    public var steps: [Step]
    public var stoppedBecause: String
    public var complete: Bool
    public var ksm: KSM?
    /// TCG's translation-buffer size the VMs ran with (MiB), nil for containers or KVM.
    public var tbCacheMiB: Int?
    public var memTotalMiB: Double
    /// Whether MemAvailable had stopped moving before the first instance
    /// (the baseline every drop is taken from); nil in older results.
    public var baselineSettled: Bool?
    /// The most instances the ramp was allowed (scenario and command line);
    /// nil in older results.
    public var maxInstances: Int?

    public struct StartLatency: Codable, Sendable {
        public var running: Int
        public var ms: Double
        public init(running: Int, ms: Double) {
            self.running = running
            self.ms = ms
        }
    }

    public init(backend: BackendKind, startLatencies: [StartLatency], steps: [Step], stoppedBecause: String, complete: Bool,
                ksm: KSM?, tbCacheMiB: Int?, memTotalMiB: Double, baselineSettled: Bool? = nil) {
        self.baselineSettled = baselineSettled
        self.backend = backend
        self.startLatencies = startLatencies
        self.steps = steps
        self.stoppedBecause = stoppedBecause
        self.complete = complete
        self.ksm = ksm
        self.tbCacheMiB = tbCacheMiB
        self.memTotalMiB = memTotalMiB
    }

    /// Whether a step's MemAvailable drop was read while MemAvailable (the
    /// step's own reading or the baseline) was still moving.
    public func dropIsUnsettled(_ step: Step) -> Bool {
        step.memAvailableSettled == false || baselineSettled == false
    }

    /// The least total MemAvailable drop an extrapolation is made from:
    /// ten times the 3 MiB a settled reading may still move.
    public static let extrapolationFloorMiB = 30.0

    /// How many instances of this size fit in the host's memory, by memory
    /// alone, from the last step's MemAvailable drop per instance; nil when
    /// that drop is within the host's own churn (under half the PSS, a
    /// total under `extrapolationFloorMiB`, or none: containers) or was read
    /// while MemAvailable still moved, where no extrapolation is honest.
    public var extrapolatedFit: Int? {
        guard let last = steps.last, !dropIsUnsettled(last), last.memAvailableDropPerInstanceMiB > 0,
              last.memAvailableDropPerInstanceMiB * Double(last.n) >= Self.extrapolationFloorMiB,
              last.memAvailableDropPerInstanceMiB >= 0.5 * last.pssPerInstanceMiB else { return nil }
        return Int(memTotalMiB / last.memAvailableDropPerInstanceMiB)
    }
}

/// One backend's victim, alone and beside each neighbour.
public struct NeighbourRun: Codable, Sendable {
    public struct Metric: Codable, Sendable {
        public var workload: String
        public var metric: String
        public var unit: String
        public var alone: [Double]
        public var unlimited: [Double]
        public var limited: [Double]

        public init(workload: String, metric: String, unit: String, alone: [Double], unlimited: [Double], limited: [Double]) {
            self.workload = workload
            self.metric = metric
            self.unit = unit
            self.alone = alone
            self.unlimited = unlimited
            self.limited = limited
        }
    }

    public var backend: BackendKind
    public var metrics: [Metric]
    /// How the neighbour was limited, in words.
    public var limits: String
    public var neighbour: String
    public var errors: [String]
    /// The control: how many CPUs the neighbour kept busy during each victim
    /// run (its processes' utime + stime over the run's wall time), by
    /// condition ("unlimited", "limited"); nil in older results.
    public var neighbourCPUs: [String: [Double]]?
    /// The limited neighbour's CPU weight and quota (CPUs), as numbers:
    /// what the victim should keep follows from them. nil in older results.
    public var limitedCPUWeight: Int?
    public var limitedCPUs: Double?

    /// An unlimited neighbour that kept less than a quarter of a CPU busy
    /// tested nothing (sharing one CPU with the victim it gets about half).
    public static let busyEnoughCPUs = 0.25
    /// A limited neighbour under this was not running (its limits, a low
    /// weight beside the victim, leave it a little, not nothing): "with
    /// limits it does not disturb" would then prove nothing about them.
    public static let runningCPUs = 0.01

    public init(backend: BackendKind, metrics: [Metric], limits: String, neighbour: String, errors: [String],
                neighbourCPUs: [String: [Double]]? = nil) {
        self.neighbourCPUs = neighbourCPUs
        self.backend = backend
        self.metrics = metrics
        self.limits = limits
        self.neighbour = neighbour
        self.errors = errors
    }
}
