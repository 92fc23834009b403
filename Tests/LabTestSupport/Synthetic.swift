import LabAnalysis
import LabModel

/// Synthetic runs: every verdict of every claim, each shown flipping when
/// the data flips.
public struct Synthetic {
    public init() {}

    public var trials: [TrialRecord] = []
    public var host = HostInfo(kernelRelease: "6.18.44-host", architecture: "x86_64", cpuModel: "test", cpuCount: 2, memoryTotalKiB: 1 << 24,
                        euid: 0, bootID: "host-boot", kernelVersion: "#1 SMP")
    public var isolation: IsolationEvidence?
    public var cgroups: CgroupEvidence?
    public var cpuBudget: [Int]?
    public var density: [DensityRun]?
    public var neighbours: [NeighbourRun]?

    /// One counted trial per value; `fail` more that failed.
    public mutating func add(_ backend: BackendKind, _ workload: String, _ metric: String, _ values: [Double], unit: String = "ms",
                      accelerator: Accelerator? = nil, ready: [String: String]? = nil, fail: Int = 0) {
        let fields: [String: String] = ready ?? ["boot_id": backend == .vm ? "guest-boot" : "host-boot",
                                                 "kernel": backend == .vm ? "6.1.0-guest" : host.kernelRelease]
        let used: Accelerator? = accelerator ?? (backend == .vm ? .tcg : nil)
        for value in values {
            let sample = Sample(workload: workload, metric: metric, value: value, unit: unit)
            let trial = TrialRecord(index: trials.count, round: trials.count, backend: backend, warmup: false,
                                    accelerator: used, timeline: [], samples: [sample],
                                    agentErrors: [], ready: fields, memorySource: nil, error: nil, consoleTail: nil)
            trials.append(trial)
        }
        for _ in 0..<fail {
            trials.append(TrialRecord(index: trials.count, round: trials.count, backend: backend, warmup: false, accelerator: nil, timeline: [],
                                      samples: [], agentErrors: [], ready: nil, memorySource: nil, error: "boot timeout", consoleTail: nil))
        }
    }

    public var results: RunResults {
        let footprint = ImageFootprint(rootfsBytes: 1, rootfsDiskBytes: 1, initramfsBytes: 1, initramfsFile: "i")
        let kernel = GuestKernel(path: "/k", version: "6.1.0-guest", sizeBytes: 7 << 20)
        let facts = HostFacts(cgroupMode: cgroups?.mode)
        let environment = RunEnvironment(
            labVersion: "test", gitCommit: "x", startedAt: "", finishedAt: nil, host: host, hostFacts: facts,
            imageName: "busybox", imageDigest: "sha256:x", imageFootprint: footprint,
            guestKernel: kernel, accelerator: nil, scenarioFile: "s.yaml",
            scenarioDigest: "", scenarioText: "", seed: 1, cpuBudget: cpuBudget, volume: nil)
        let backends = Array(Set(trials.map(\.backend))).sorted()
        var results = RunResults(schemaVersion: RunResults.currentSchemaVersion, complete: true, scenarioName: "s", scenarioDescription: "",
                                 backends: backends, repetitions: 5, warmup: 0, environment: environment, trials: trials, isolation: isolation,
                                 cgroups: cgroups, checkErrors: [], summary: ResultsSummary(metrics: [], ratios: []))
        results.density = density
        results.neighbours = neighbours
        return results
    }

    public func claim(_ id: String) -> Claim {
        Claims.evaluate(results).first { $0.id == id }!
    }
}

/// `count` values spread ±`spread` around `center`.
public func around(_ center: Double, spread: Double = 0.02, count: Int = 8) -> [Double] {
    let steps = Double(max(count - 1, 1))
    return (0..<count).map { (index: Int) -> Double in
        let position: Double = Double(index) / steps * 2 - 1
        return center * (1 + spread * position)
    }
}

extension Synthetic {
    public static func ramp(_ backend: BackendKind, pss: Double, upTo n: Int = 8, maxInstances: Int? = nil, perInstance: Bool = true) -> DensityRun {
        let steps = DensitySettings.countsUpTo(n).map { count in
            DensityRun.Step(n: count, memAvailableDropPerInstanceMiB: pss * 0.9, pssPerInstanceMiB: pss * (1 + 0.01 * Double(count % 3)),
                            idleCPUPerInstanceMsPerS: 1, creationRatePerS: 10, memAvailableMiB: 20_000,
                            instanceAnonMiB: perInstance ? around(pss * 0.9, count: count) : nil)
        }
        var run = DensityRun(backend: backend, startLatencies: [], steps: steps, stoppedBecause: "reached max_instances", complete: true,
                             ksm: nil, tbCacheMiB: nil, memTotalMiB: 24_000)
        run.maxInstances = maxInstances ?? n
        return run
    }

    public static func neighbour(unlimited: Double, limited: Double, count: Int = 5) -> NeighbourRun {
        let alone = around(100, count: count)
        var run = NeighbourRun(backend: .container, metrics: [
            NeighbourRun.Metric(workload: "cpu", metric: "sieve", unit: "sieves/s", alone: alone,
                                unlimited: around(100 * unlimited, count: count), limited: around(100 * limited, count: count)),
        ], limits: "cpus 0.5", neighbour: "two busy processes", errors: [],
           neighbourCPUs: ["unlimited": around(1.9, count: count), "limited": around(0.5, count: count)])
        run.limitedCPUWeight = 1
        run.limitedCPUs = 0.5
        return run
    }
}
