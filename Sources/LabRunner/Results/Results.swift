import Foundation
import LabAgentCore
import LabCore
import LabDoctor
import LabImage
import LabStats
import LabVirt

/// One measured value of one trial.
public struct Sample: Codable, Sendable, Equatable {
    /// The agent's workload, or `startup` / `resources` for what the lab measures around it.
    public var workload: String
    public var metric: String
    public var value: Double
    public var unit: String

    public init(workload: String, metric: String, value: Double, unit: String) {
        self.workload = workload
        self.metric = metric
        self.value = value
        self.unit = unit
    }
}

/// One run of the scenario's workloads on one backend.
public struct TrialRecord: Codable, Sendable {
    public var index: Int
    public var round: Int
    public var backend: Scenario.BackendKind
    public var warmup: Bool
    /// The accelerator of a VM trial.
    public var accelerator: Accelerator?
    /// Phases relative to the first, in nanoseconds.
    public var timeline: [Timeline.Phase]
    public var samples: [Sample]
    public var agentResults: [AgentResult]
    public var agentErrors: [String]
    /// The agent's READY fields (kernel, uptime, hostname, ...).
    public var ready: [String: String]?
    /// What produced the memory sample: `agent maxrss`, `cgroup peak`, `QEMU PSS`.
    public var memorySource: String?
    public var error: String?
    /// The console's last lines of a failed VM trial.
    public var consoleTail: String?

    public init(index: Int, round: Int, backend: Scenario.BackendKind, warmup: Bool, accelerator: Accelerator?,
                timeline: [Timeline.Phase], samples: [Sample], agentResults: [AgentResult], agentErrors: [String],
                ready: [String: String]?, memorySource: String?, error: String?, consoleTail: String?) {
        self.index = index
        self.round = round
        self.backend = backend
        self.warmup = warmup
        self.accelerator = accelerator
        self.timeline = timeline
        self.samples = samples
        self.agentResults = agentResults
        self.agentErrors = agentErrors
        self.ready = ready
        self.memorySource = memorySource
        self.error = error
        self.consoleTail = consoleTail
    }
}

/// Evidence from inside a container that it is isolated.
public struct IsolationEvidence: Codable, Sendable, Equatable {
    public var pidOne: String
    public var hostname: String
    public var interfaces: [String]
    /// namespace kind -> differs from the host's
    public var namespacesDiffer: [String: Bool]
    public var capEff: String
    public var hostRootReachable: Bool
    public var rootWritable: Bool
}

/// Evidence that cgroups limit, account for and freeze a container.
public struct CgroupEvidence: Codable, Sendable, Equatable {
    public var mode: String
    public var memoryLimitMiB: Int
    public var oomKilled: Bool
    public var exitDescription: String
    public var peakMemoryMiB: Double?
    public var cpuTimeMs: Double?
    public var frozeCounterHeld: Bool
    public var thawedCounterMoved: Bool
    public var cpuWeight: Int
    public var cpuWeightFile: String
    public var cpuWeightWritten: String?
}

public struct RunEnvironment: Codable, Sendable {
    public var labVersion: String
    public var gitCommit: String
    public var startedAt: String
    public var finishedAt: String?
    public var host: HostInfo
    public var doctor: DoctorReport?
    public var imageName: String
    public var imageDigest: String
    public var imageFootprint: ImageManifest.Footprint
    public var guestKernel: GuestKernel?
    public var accelerator: AcceleratorDecision?
    public var scenarioFile: String
    public var scenarioDigest: String
    public var scenarioText: String
    public var seed: UInt64
}

/// Statistics of one backend's samples of one metric.
public struct MetricSummary: Codable, Sendable {
    public var backend: Scenario.BackendKind
    public var workload: String
    public var metric: String
    public var unit: String
    public var summary: Summary
    /// Indices (into the trials) of samples the modified z-score flags (|z| > 3.5).
    public var outlierTrials: [Int]
    public var medianInterval: Interval?
}

/// median(backend) / median(baseline) with its bootstrap interval.
public struct RatioSummary: Codable, Sendable {
    public var workload: String
    public var metric: String
    public var unit: String
    public var backend: Scenario.BackendKind
    public var baseline: Scenario.BackendKind
    public var ratio: Double
    public var interval: Interval?
}

public struct ResultsSummary: Codable, Sendable {
    public var metrics: [MetricSummary]
    public var ratios: [RatioSummary]
}

/// `results.json`: everything a run measured, raw and summarised.
public struct RunResults: Codable, Sendable {
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    /// false when the run was interrupted: the trials so far.
    public var complete: Bool
    public var scenarioName: String
    public var scenarioDescription: String
    public var backends: [Scenario.BackendKind]
    public var repetitions: Int
    public var warmup: Int
    public var environment: RunEnvironment
    public var trials: [TrialRecord]
    public var isolation: IsolationEvidence?
    public var cgroups: CgroupEvidence?
    public var checkErrors: [String]
    public var summary: ResultsSummary

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case complete, scenarioName, scenarioDescription, backends, repetitions, warmup, environment, trials
        case isolation, cgroups, checkErrors, summary
    }

    /// Reads a results file, refusing another schema version.
    public static func load(file path: String) throws -> RunResults {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch let error as LabError {
            throw LabError(.invalidInput, "\(path): cannot read: \(error.message)")
        }
        struct Version: Decodable {
            var schemaVersion: Int?
            enum CodingKeys: String, CodingKey { case schemaVersion = "schema_version" }
        }
        let decoder = JSONDecoder()
        guard let version = try? decoder.decode(Version.self, from: Data(bytes)) else {
            throw LabError(.invalidInput, "\(path): not a JSON results file of the lab")
        }
        guard version.schemaVersion == currentSchemaVersion else {
            throw LabError(.invalidInput, "\(path): schema_version \(version.schemaVersion.map(String.init) ?? "missing"); this lab reads \(currentSchemaVersion)")
        }
        do {
            return try decoder.decode(RunResults.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw LabError(.invalidInput, "\(path): does not match schema_version \(currentSchemaVersion): \(StrictYAML.fieldName(Self.path(of: error))) \(error)")
        }
    }

    static func path(of error: DecodingError) -> [CodingKey] {
        switch error {
        case .keyNotFound(let key, let context): context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): context.codingPath
        @unknown default: []
        }
    }

    /// Every counted sample of one backend, metric and workload.
    public func values(_ backend: Scenario.BackendKind, _ workload: String, _ metric: String) -> [Double] {
        trials.filter { $0.backend == backend && !$0.warmup && $0.error == nil }
            .flatMap { $0.samples.filter { $0.workload == workload && $0.metric == metric }.map(\.value) }
    }

    public func metric(_ backend: Scenario.BackendKind, _ workload: String, _ metric: String) -> MetricSummary? {
        summary.metrics.first { $0.backend == backend && $0.workload == workload && $0.metric == metric }
    }

    public func ratio(_ backend: Scenario.BackendKind, over baseline: Scenario.BackendKind, _ workload: String, _ metric: String) -> RatioSummary? {
        summary.ratios.first { $0.backend == backend && $0.baseline == baseline && $0.workload == workload && $0.metric == metric }
    }

    /// Recomputes the summary from the trials (seeded: the same trials give the same intervals).
    public static func summarize(_ trials: [TrialRecord], backends: [Scenario.BackendKind], seed: UInt64) -> ResultsSummary {
        var keys: [(String, String, String)] = []
        var seen = Set<String>()
        for trial in trials where !trial.warmup && trial.error == nil {
            for sample in trial.samples where seen.insert(sample.workload + "\u{1}" + sample.metric).inserted {
                keys.append((sample.workload, sample.metric, sample.unit))
            }
        }
        var metrics: [MetricSummary] = []
        var ratios: [RatioSummary] = []
        var values: [Scenario.BackendKind: [String: [(Int, Double)]]] = [:]
        for trial in trials where !trial.warmup && trial.error == nil {
            for sample in trial.samples {
                values[trial.backend, default: [:]][sample.workload + "\u{1}" + sample.metric, default: []].append((trial.index, sample.value))
            }
        }
        for (workload, metric, unit) in keys {
            let key = workload + "\u{1}" + metric
            for backend in backends {
                guard let pairs = values[backend]?[key], let summary = Summary(pairs.map(\.1)) else { continue }
                let outliers = Statistics.outliers(pairs.map(\.1)).map { pairs[$0].0 }
                metrics.append(MetricSummary(backend: backend, workload: workload, metric: metric, unit: unit, summary: summary,
                                             outlierTrials: outliers, medianInterval: Bootstrap.median(pairs.map(\.1), seed: seed)))
            }
            var pairsToCompare: [(Scenario.BackendKind, Scenario.BackendKind)] = backends.filter { $0 != .bare }.map { ($0, .bare) }
            if backends.contains(.vm) && backends.contains(.container) { pairsToCompare.append((.vm, .container)) }
            for (backend, baseline) in pairsToCompare {
                guard backends.contains(baseline), let top = values[backend]?[key]?.map(\.1), let bottom = values[baseline]?[key]?.map(\.1),
                      !top.isEmpty, !bottom.isEmpty, Statistics.median(bottom) != 0 else { continue }
                ratios.append(RatioSummary(workload: workload, metric: metric, unit: unit, backend: backend, baseline: baseline,
                                           ratio: Statistics.median(top) / Statistics.median(bottom),
                                           interval: Bootstrap.ratioOfMedians(top, bottom, seed: seed)))
            }
        }
        return ResultsSummary(metrics: metrics, ratios: ratios)
    }
}
