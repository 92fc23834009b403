import Foundation

/// One measured value of one trial: the agent's RESULT lines (with the
/// workload's parameters and its own elapsed time), and what the lab
/// measures around the agent (`startup`, `resources`).
public struct Sample: Codable, Sendable, Equatable {
    /// The agent's workload, or `startup` / `resources` for what the lab measures around it.
    public var workload: String
    public var metric: String
    public var value: Double
    public var unit: String
    /// The agent's parameters of the workload (RESULT lines only).
    public var params: [String: String]?
    /// The workload's own elapsed time, ns (RESULT lines only).
    public var durationNs: Int64?

    public init(workload: String, metric: String, value: Double, unit: String, params: [String: String]? = nil, durationNs: Int64? = nil) {
        self.workload = workload
        self.metric = metric
        self.value = value
        self.unit = unit
        self.params = params
        self.durationNs = durationNs
    }
}

/// One run of the scenario's workloads on one backend.
public struct TrialRecord: Codable, Sendable {
    public var index: Int
    public var round: Int
    public var backend: BackendKind
    public var warmup: Bool
    /// The accelerator of a VM trial.
    public var accelerator: Accelerator?
    /// Phases relative to the first, in nanoseconds.
    public var timeline: [Timeline.Phase]
    public var samples: [Sample]
    public var agentErrors: [String]
    /// The agent's READY fields (kernel, uptime, hostname, ...).
    public var ready: [String: String]?
    /// What produced the memory sample: `agent maxrss`, `cgroup peak`, `QEMU PSS`.
    public var memorySource: String?
    public var error: String?
    /// The console's last lines of a failed VM trial.
    public var consoleTail: String?
    /// A whole-OS trial: the boot as its init (systemd) timed it.
    public var boot: BootRecord?

    public init(index: Int, round: Int, backend: BackendKind, warmup: Bool, accelerator: Accelerator?,
                timeline: [Timeline.Phase], samples: [Sample], agentErrors: [String],
                ready: [String: String]?, memorySource: String?, error: String?, consoleTail: String?) {
        self.index = index
        self.round = round
        self.backend = backend
        self.warmup = warmup
        self.accelerator = accelerator
        self.timeline = timeline
        self.samples = samples
        self.agentErrors = agentErrors
        self.ready = ready
        self.memorySource = memorySource
        self.error = error
        self.consoleTail = consoleTail
    }
}

/// A whole-OS instance's boot as systemd saw it (the agent's BOOT line):
/// its timestamps in µs of CLOCK_MONOTONIC (the guest's in a VM, counted
/// from the kernel's start; the host's in a container), `systemd-analyze
/// time`'s line and the slowest units of `systemd-analyze blame`.
public struct BootRecord: Codable, Sendable, Equatable {
    public struct Unit: Codable, Sendable, Equatable {
        public var unit: String
        public var ms: Double?
        public var text: String

        public init(unit: String, ms: Double?, text: String) {
            self.unit = unit
            self.ms = ms
            self.text = text
        }
    }

    public var initSystem: String
    public var clock: String
    public var firmwareUs: Int64?
    public var loaderUs: Int64?
    public var kernelUs: Int64?
    public var initrdUs: Int64?
    public var userspaceUs: Int64?
    public var finishUs: Int64?
    public var analyze: String
    public var blame: [Unit]

    public init(initSystem: String, clock: String, firmwareUs: Int64?, loaderUs: Int64?, kernelUs: Int64?, initrdUs: Int64?,
                userspaceUs: Int64?, finishUs: Int64?, analyze: String, blame: [Unit]) {
        self.initSystem = initSystem
        self.clock = clock
        self.firmwareUs = firmwareUs
        self.loaderUs = loaderUs
        self.kernelUs = kernelUs
        self.initrdUs = initrdUs
        self.userspaceUs = userspaceUs
        self.finishUs = finishUs
        self.analyze = analyze
        self.blame = blame
    }

    enum CodingKeys: String, CodingKey {
        case initSystem = "init"
        case clock, analyze, blame
        case firmwareUs = "firmware_us", loaderUs = "loader_us", kernelUs = "kernel_us", initrdUs = "initrd_us"
        case userspaceUs = "userspace_us", finishUs = "finish_us"
    }

    /// systemd-analyze's split: kernel (and initramfs, when it is not
    /// systemd's), initrd, userspace; ms. A container has only userspace.
    public var phasesMs: [(String, Double)] {
        guard let userspace = userspaceUs, let finish = finishUs, finish >= userspace else { return [] }
        var phases: [(String, Double)] = []
        if clock == "guest monotonic" {
            let kernelEnd = (initrdUs ?? 0) > 0 ? initrdUs! : userspace
            phases.append(("kernel", Double(kernelEnd - (kernelUs ?? 0)) / 1000))
            if let initrd = initrdUs, initrd > 0 { phases.append(("initrd", Double(userspace - initrd) / 1000)) }
        }
        phases.append(("userspace", Double(finish - userspace) / 1000))
        return phases
    }
}

public struct RunEnvironment: Codable, Sendable {
    public var labVersion: String
    public var gitCommit: String
    public var startedAt: String
    public var finishedAt: String?
    public var host: HostInfo
    /// cgroup mode, KVM, libvirt and QEMU versions, gathered before the trials.
    public var hostFacts: HostFacts
    public var imageName: String
    public var imageDigest: String
    public var imageFootprint: ImageFootprint
    public var guestKernel: GuestKernel?
    public var accelerator: AcceleratorDecision?
    public var scenarioFile: String
    public var scenarioDigest: String
    public var scenarioText: String
    public var seed: UInt64
    /// The host CPUs every backend was pinned to (the scenario's `cpus`):
    /// the same budget for the process, the container and the guest; nil: not pinned.
    public var cpuBudget: [Int]?
    /// Where the instances' volume lived (`host disk: ...`), if the scenario gave one.
    public var volume: String?
    /// Peers the scenario named that could not run here, and why (missing,
    /// or refused by this host: its own error). Never a failed run.
    public var skippedPeers: [String: String]?

    public init(labVersion: String, gitCommit: String, startedAt: String, finishedAt: String?, host: HostInfo, hostFacts: HostFacts,
                imageName: String, imageDigest: String, imageFootprint: ImageFootprint, guestKernel: GuestKernel?,
                accelerator: AcceleratorDecision?, scenarioFile: String, scenarioDigest: String, scenarioText: String, seed: UInt64) {
        self.labVersion = labVersion
        self.gitCommit = gitCommit
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.host = host
        self.hostFacts = hostFacts
        self.imageName = imageName
        self.imageDigest = imageDigest
        self.imageFootprint = imageFootprint
        self.guestKernel = guestKernel
        self.accelerator = accelerator
        self.scenarioFile = scenarioFile
        self.scenarioDigest = scenarioDigest
        self.scenarioText = scenarioText
        self.seed = seed
    }

    public init(labVersion: String, gitCommit: String, startedAt: String, finishedAt: String?, host: HostInfo, hostFacts: HostFacts,
                imageName: String, imageDigest: String, imageFootprint: ImageFootprint, guestKernel: GuestKernel?,
                accelerator: AcceleratorDecision?, scenarioFile: String, scenarioDigest: String, scenarioText: String, seed: UInt64,
                cpuBudget: [Int]?, volume: String?) {
        self.init(labVersion: labVersion, gitCommit: gitCommit, startedAt: startedAt, finishedAt: finishedAt, host: host, hostFacts: hostFacts,
                  imageName: imageName, imageDigest: imageDigest, imageFootprint: imageFootprint, guestKernel: guestKernel,
                  accelerator: accelerator, scenarioFile: scenarioFile, scenarioDigest: scenarioDigest, scenarioText: scenarioText, seed: seed)
        self.cpuBudget = cpuBudget
        self.volume = volume
    }
}

/// Statistics of one backend's samples of one metric.
public struct MetricSummary: Codable, Sendable {
    public var backend: BackendKind
    public var workload: String
    public var metric: String
    public var unit: String
    public var summary: Summary
    /// Indices (into the trials) of samples the modified z-score flags (|z| > 3.5).
    public var outlierTrials: [Int]
    public var medianInterval: Interval?

    public init(backend: BackendKind, workload: String, metric: String, unit: String, summary: Summary, outlierTrials: [Int], medianInterval: Interval?) {
        self.backend = backend
        self.workload = workload
        self.metric = metric
        self.unit = unit
        self.summary = summary
        self.outlierTrials = outlierTrials
        self.medianInterval = medianInterval
    }
}

/// median(backend) / median(baseline) with its bootstrap interval.
public struct RatioSummary: Codable, Sendable {
    public var workload: String
    public var metric: String
    public var unit: String
    public var backend: BackendKind
    public var baseline: BackendKind
    public var ratio: Double
    public var interval: Interval?

    public init(workload: String, metric: String, unit: String, backend: BackendKind, baseline: BackendKind, ratio: Double, interval: Interval?) {
        self.workload = workload
        self.metric = metric
        self.unit = unit
        self.backend = backend
        self.baseline = baseline
        self.ratio = ratio
        self.interval = interval
    }
}

public struct ResultsSummary: Codable, Sendable {
    public var metrics: [MetricSummary]
    public var ratios: [RatioSummary]

    public init(metrics: [MetricSummary], ratios: [RatioSummary]) {
        self.metrics = metrics
        self.ratios = ratios
    }
}

/// `results.json`: everything a run measured, raw and summarised.
public struct RunResults: Codable, Sendable {
    public static let currentSchemaVersion = 2

    public var schemaVersion: Int
    /// false when the run was interrupted: the trials so far.
    public var complete: Bool
    public var scenarioName: String
    public var scenarioDescription: String
    public var backends: [BackendKind]
    public var repetitions: Int
    public var warmup: Int
    public var environment: RunEnvironment
    public var trials: [TrialRecord]
    public var isolation: IsolationEvidence?
    /// The escape suite, run with the isolation check.
    public var escape: EscapeEvidence?
    public var cgroups: CgroupEvidence?
    /// Density ramps and noisy neighbours (docs/density.md).
    public var density: [DensityRun]?
    public var neighbours: [NeighbourRun]?
    public var checkErrors: [String]
    public var summary: ResultsSummary
    /// Set once `summary` has been computed from `trials` in this process
    /// (not stored: a summary read from a file is only a cache).
    public var summaryIsFromTrials = false

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case complete, scenarioName, scenarioDescription, backends, repetitions, warmup, environment, trials
        case isolation, escape, cgroups, checkErrors, summary, density, neighbours
    }

    /// Reads a results file, refusing another schema version.
    public static func load(file path: String) throws -> RunResults {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read it" : "no such file"
            throw LabError(.invalidInput, "\(path): \(reason)")
        }
        struct Version: Decodable {
            var schemaVersion: Int?
            enum CodingKeys: String, CodingKey { case schemaVersion = "schema_version" }
        }
        let decoder = JSONDecoder()
        guard let version = try? decoder.decode(Version.self, from: data) else {
            throw LabError(.invalidInput, "\(path): not a JSON results file of the lab")
        }
        guard version.schemaVersion == currentSchemaVersion else {
            throw LabError(.invalidInput, "\(path): schema_version \(version.schemaVersion.map(String.init) ?? "missing"); this lab reads \(currentSchemaVersion)")
        }
        do {
            return try decoder.decode(RunResults.self, from: data)
        } catch let error as DecodingError {
            throw LabError(.invalidInput, "\(path): does not match schema_version \(currentSchemaVersion): \(CodingPathText.describe(CodingPathText.path(of: error))) \(error)")
        }
    }

    /// Every counted sample of one backend, metric and workload.
    public func values(_ backend: BackendKind, _ workload: String, _ metric: String) -> [Double] {
        trials.filter { $0.backend == backend && $0.isCounted }
            .flatMap { $0.samples.filter { $0.workload == workload && $0.metric == metric }.map(\.value) }
    }

    public func metric(_ backend: BackendKind, _ workload: String, _ metric: String) -> MetricSummary? {
        summary.metrics.first { $0.backend == backend && $0.workload == workload && $0.metric == metric }
    }

    public func ratio(_ backend: BackendKind, over baseline: BackendKind, _ workload: String, _ metric: String) -> RatioSummary? {
        summary.ratios.first { $0.backend == backend && $0.baseline == baseline && $0.workload == workload && $0.metric == metric }
    }

    public init(schemaVersion: Int, complete: Bool, scenarioName: String, scenarioDescription: String, backends: [BackendKind], repetitions: Int, warmup: Int, environment: RunEnvironment, trials: [TrialRecord], isolation: IsolationEvidence? = nil, cgroups: CgroupEvidence? = nil, checkErrors: [String], summary: ResultsSummary) {
        self.schemaVersion = schemaVersion
        self.complete = complete
        self.scenarioName = scenarioName
        self.scenarioDescription = scenarioDescription
        self.backends = backends
        self.repetitions = repetitions
        self.warmup = warmup
        self.environment = environment
        self.trials = trials
        self.isolation = isolation
        self.cgroups = cgroups
        self.checkErrors = checkErrors
        self.summary = summary
    }
}

extension TrialRecord {
    /// Whether the trial's samples count: not a warm-up, and it did not fail.
    public var isCounted: Bool { !warmup && error == nil }
}
