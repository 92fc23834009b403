import Foundation
import LabWire
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabStats
import LabVirt
import Logging

/// Runs a scenario fairly on every backend: trials planned in rounds, the
/// backends in a seeded shuffled order in each round so that a noisy
/// machine's drift falls on all of them alike; warm-up rounds first,
/// recorded but not counted; a failed trial recorded and the run goes on.
public struct Runner {
    public struct Options: Sendable {
        public var repetitions: Int?
        public var backends: [BackendKind]?
        public var seed: UInt64?
        public var libvirtURI = "qemu:///system"
        public var paths: LabPaths = .fromEnvironment()
        /// Lower the scenario's density ramp for a quick look.
        public var maxInstances: Int?
        public var budgetSeconds: Double?
        public init() {}
    }

    public var scenario: Scenario
    public var scenarioFile: String
    public var scenarioText: String
    public var options: Options
    var logger: Logger

    public init(scenario: Scenario, file: String, text: String, options: Options, logger: Logger = Logger(label: "isolab.run")) {
        self.scenario = scenario
        self.scenarioFile = file
        self.scenarioText = text
        self.options = options
        self.logger = logger
    }

    /// One planned trial.
    public struct PlannedTrial: Sendable, Equatable {
        public var index: Int
        public var round: Int
        public var backend: BackendKind
        public var warmup: Bool

        public init(index: Int, round: Int, backend: BackendKind, warmup: Bool) {
            self.index = index
            self.round = round
            self.backend = backend
            self.warmup = warmup
        }
    }

    /// Rounds of every backend once, each round in a seeded shuffled order.
    public static func plan(backends: [BackendKind], repetitions: Int, warmup: Int, seed: UInt64) -> [PlannedTrial] {
        var generator = SeededGenerator(seed: seed)
        var trials: [PlannedTrial] = []
        for round in 0..<(warmup + repetitions) {
            var order = backends
            // Fisher-Yates with the seeded generator: the same seed, the same order.
            if order.count > 1 {
                for i in stride(from: order.count - 1, to: 0, by: -1) {
                    order.swapAt(i, Int(generator.next() % UInt64(i + 1)))
                }
            }
            for backend in order {
                trials.append(PlannedTrial(index: trials.count, round: round, backend: backend, warmup: round < warmup))
            }
        }
        return trials
    }

    /// Builds or reuses the image, runs the checks and the trials, and
    /// returns the results (marked incomplete if interrupted).
    public func run(progress: @escaping @Sendable (String, Bool) -> Void) async throws -> RunResults {
        var backends = options.backends ?? scenario.backends
        let repetitions = options.repetitions ?? scenario.repetitions
        let seed = options.seed ?? scenario.seed
        let paths = options.paths
        let started = ISO8601DateFormatter().string(from: Date())

        // Everything that can fail on bad input fails here, before any trial.
        let factory = try BackendFactory(scenario: scenario, file: scenarioFile, paths: paths, libvirtURI: options.libvirtURI,
                                         logger: logger, progress: progress)
        let image = factory.image
        var trialBackends: [BackendKind: any Backend] = [:]
        var skipped: [String: String] = [:]
        for backend in backends {
            switch try await factory.make(backend) {
            case .success(let made): trialBackends[backend] = made
            case .failure(let reason):
                skipped[backend.rawValue] = reason.message
                progress("skipping \(backend.rawValue): \(reason.message)", false)
            }
        }
        backends = backends.filter { skipped[$0.rawValue] == nil }
        guard !backends.isEmpty else { throw LabError(.failed, "no backend of the scenario can run here: \(skipped.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "))") }

        var environment = RunEnvironment(
            labVersion: LabVersion.current, gitCommit: Self.gitCommit(), startedAt: started, finishedAt: nil,
            host: HostInfo.current(), hostFacts: Doctor.hostFacts(vm: backends.contains(where: \.isVM), kvm: factory.kvmVerdict),
            imageName: image.manifest.name, imageDigest: image.manifest.digest,
            imageFootprint: image.manifest.footprint, guestKernel: factory.kernel, accelerator: factory.decision, scenarioFile: scenarioFile,
            scenarioDigest: "sha256:" + SHA256.hash(Array(scenarioText.utf8)).map { String(format: "%02x", $0) }.joined(),
            scenarioText: scenarioText, seed: seed, cpuBudget: factory.budget,
            volume: scenario.volumeBytes.map { "a volume of \(ByteSize.format($0)) at /data on the host's disk (\(FileSystem.fileSystemType(paths.run) ?? "?")): "
                + "a host directory for the process, the same bound into the container, an ext4 disk image as the guest's virtio-blk disk with cache=none (O_DIRECT: no host page cache)" })

        environment.skippedPeers = skipped.isEmpty ? nil : skipped
        var checkErrors: [String] = []
        var isolation: IsolationEvidence?
        var cgroups: CgroupEvidence?
        let checks = CheckContext(rootfs: try factory.checksRootfs(), layout: factory.layout, paths: paths)
        var escape: EscapeEvidence?
        if scenario.checks.contains(.isolation) {
            progress("check: each namespace from inside a container, against a bare control; the escape suite", false)
            do { isolation = try await IsolationCheck.run(checks) } catch {
                checkErrors.append("isolation: \(error)")
            }
            do { escape = try await EscapeCheck.run(checks) } catch {
                checkErrors.append("escape: \(error)")
            }
        }
        if scenario.checks.contains(.cgroups) {
            progress("check: cgroups limit, prioritise, account for and freeze containers (about 15 s)", false)
            cgroups = await CgroupCheck.run(checks)
            checkErrors += cgroups?.errors.map { "cgroups: \($0)" } ?? []
        }

        let plan = Self.plan(backends: backends, repetitions: repetitions, warmup: scenario.warmup, seed: seed)
        var trials: [TrialRecord] = []
        var complete = true
        let start = MonotonicClock.now()
        for planned in plan {
            if CleanupRegistry.shared.interrupted != nil { complete = false; break }
            let elapsed = Double(MonotonicClock.now() - start) / 1e9
            let eta = planned.index == 0 ? "" : String(format: ", ETA %.0f s", elapsed / Double(planned.index) * Double(plan.count - planned.index))
            progress("trial \(planned.index + 1) of \(plan.count): \(planned.backend.rawValue)\(planned.warmup ? " (warm-up)" : "")\(eta)", true)
            let record = await runTrial(planned, backend: trialBackends[planned.backend]!)
            if CleanupRegistry.shared.interrupted != nil {
                complete = false
                break
            }
            if let error = record.error { progress("trial \(planned.index + 1) (\(planned.backend.rawValue)) failed: \(error)", false) }
            trials.append(record)
        }
        // Many instances at once, and neighbours: after the trials, on the same backends.
        var densityRuns: [DensityRun] = []
        if var density = scenario.density, complete {
            if let cap = options.maxInstances { density.maxInstances = min(density.maxInstances, cap) }
            if let budget = options.budgetSeconds { density.budgetSeconds = min(density.budgetSeconds, budget) }
            for backend in backends where [.container, .vm, .systemContainer, .osVM].contains(backend) {
                if CleanupRegistry.shared.interrupted != nil { break }
                progress("density: \(backend.rawValue), up to \(density.maxInstances) instances at once (budget \(Int(density.budgetSeconds)) s)", false)
                // The translation buffer is TCG's: recorded only for guests that ran under it.
                let tcg = trialBackends[backend]?.guestAccelerator == .tcg
                let run = await DensityRamp.run(DensityRamp.Context(backend: trialBackends[backend]!, settings: density, tbCacheMiB: tcg ? scenario.vm.tbCacheMiB : nil,
                                                                    progress: { progress("density: " + $0, true) }))
                progress("density: \(backend.rawValue) stopped: \(run.stoppedBecause)", false)
                densityRuns.append(run)
            }
            if densityRuns.contains(where: { !$0.complete }) { complete = false }
        }
        var neighbourRuns: [NeighbourRun] = []
        if let neighbour = scenario.neighbour, complete {
            for backend in backends where backend == .container || backend == .vm {
                if CleanupRegistry.shared.interrupted != nil { complete = false; break }
                progress("neighbour: \(backend.rawValue), the victim alone, beside a neighbour without and with limits", false)
                guard let context = neighbourContext(backend, trialBackends[backend]!, neighbour, progress: { progress($0, true) }) else { continue }
                neighbourRuns.append(await NoisyNeighbour.run(context))
            }
            if CleanupRegistry.shared.interrupted != nil { complete = false }
        }
        environment.finishedAt = ISO8601DateFormatter().string(from: Date())
        var results = RunResults(
            schemaVersion: RunResults.currentSchemaVersion, complete: complete, scenarioName: scenario.name,
            scenarioDescription: scenario.description, backends: backends, repetitions: repetitions, warmup: scenario.warmup,
            environment: environment, trials: trials, isolation: isolation, cgroups: cgroups, checkErrors: checkErrors,
            summary: RunResults.summarize(trials, backends: backends))
        results.summaryIsFromTrials = true
        results.escape = escape
        results.density = densityRuns.isEmpty ? nil : densityRuns
        results.neighbours = neighbourRuns.isEmpty ? nil : neighbourRuns
        return results
    }

    static func gitCommit() -> String {
        guard let git = HostCommand.which("git"),
              let output = try? HostCommand.run(git, ["rev-parse", "--short=12", "HEAD"], timeout: 5), output.status == 0 else {
            return "unknown"
        }
        return output.stdout.trimmingWhitespace()
    }
}
